"""The in-process moving window: exact counts, the wait it reports, and forgetting idle clients."""

from __future__ import annotations

from plughost.ops.ratelimit import LocalWindows


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_exactly_the_limit_within_the_window_then_reports_the_wait():
    clock = Clock()
    windows = LocalWindows(clock=clock)
    key = ("default", "client-a")
    for _ in range(3):
        assert windows.hit(key, 3, 60) is None
        clock.now += 10
    assert windows.hit(key, 3, 60) == 30  # the first hit leaves the window at 1060
    assert windows.hit(("default", "client-b"), 3, 60) is None
    clock.now = 1060.5
    assert windows.hit(key, 3, 60) is None
    assert windows.hit(key, 3, 60) == 9.5


def test_idle_clients_are_forgotten():
    clock = Clock()
    windows = LocalWindows(clock=clock, sweep_seconds=60)
    for client in range(100):
        windows.hit(("default", str(client)), 5, 60)
    clock.now += 120
    assert len(windows) == 100
    windows.hit(("default", "active"), 5, 60)
    assert len(windows) == 1
