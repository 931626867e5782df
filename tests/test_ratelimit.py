"""The in-process moving window: exact counts, the wait it reports, and forgetting idle clients;
whose budget a call counts against; a storage that is down is an error, not a hang."""

from __future__ import annotations

import asyncio

import pytest

from plughost.ops.breaker import CircuitBreaker
from plughost.ops.ratelimit import BudgetKey, LocalWindows, RateLimiter, RateLimitUnavailable
from plughost.testing import free_port


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


def limiter(
    key_by: BudgetKey = "client_and_subject", storage_url: str = "memory://"
) -> RateLimiter:
    return RateLimiter(
        default="2/minute",
        per_plugin={},
        per_tool={},
        storage_url=storage_url,
        key_prefix="plughost-test",
        tool_owner={},
        storage_timeout=0.5,
        key_by=key_by,
    )


async def spend(rate: RateLimiter, client: str | None, subject: str, calls: int) -> list[bool]:
    """Which of ``calls`` calls were allowed."""
    return [
        await rate.hit(client=client, subject=subject, tool="todo_list") is None
        for _ in range(calls)
    ]


def test_each_user_of_a_client_has_a_budget_by_default() -> None:
    async def scenario() -> None:
        rate = limiter()
        assert await spend(rate, "app", "ann", 3) == [True, True, False]
        assert await spend(rate, "app", "bob", 2) == [True, True]
        assert await spend(rate, None, "ann", 2) == [True, True]  # no client: not app's ann

    asyncio.run(scenario())


def test_keyed_by_client_all_its_users_share_one_budget() -> None:
    async def scenario() -> None:
        rate = limiter("client")
        assert await spend(rate, "app", "ann", 1) == [True]
        assert await spend(rate, "app", "bob", 2) == [True, False]
        assert await spend(rate, None, "app", 2) == [True, True]  # a subject is not a client

    asyncio.run(scenario())


def test_no_two_callers_spell_the_same_key() -> None:
    async def scenario() -> None:
        rate = limiter()
        assert await spend(rate, "a/b", "c", 2) == [True, True]
        assert await spend(rate, "a", "b/c", 2) == [True, True]

    asyncio.run(scenario())


def test_the_positional_form_counts_the_caller_as_client_and_subject() -> None:
    async def scenario() -> None:
        rate = limiter()
        assert await rate.hit("app", "todo_list") is None
        assert await spend(rate, "app", "app", 2) == [True, False]

    asyncio.run(scenario())


def test_a_redis_nobody_listens_on_is_unavailable_not_a_hang() -> None:
    pytest.importorskip("redis", reason="needs redis-py (plughost[redis])")

    async def scenario() -> None:
        rate = limiter(storage_url=f"redis://127.0.0.1:{free_port()}/0")
        with pytest.raises(RateLimitUnavailable, match=r"rate-limit storage redis://127\.0\.0\.1"):
            await rate.hit(client="app", subject="ann", tool="todo_list")
        assert not await rate.healthy()

    asyncio.run(scenario())


def test_a_failed_storage_is_skipped_for_the_cooldown_then_tried_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker(5, clock=clock)
    assert breaker.allow()
    breaker.failed()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # while the trial is out, nobody else waits on the storage
    breaker.failed()
    clock.now += 1
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()
    breaker.succeeded()
    assert not breaker.is_open
    assert breaker.allow() and breaker.allow()


def test_a_trial_that_never_reports_back_does_not_close_the_storage_forever() -> None:
    clock = Clock()
    breaker = CircuitBreaker(5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()  # this trial is cancelled and never reports
    clock.now += 5
    assert breaker.allow()


def test_a_redis_that_just_failed_is_not_waited_on_again() -> None:
    pytest.importorskip("redis", reason="needs redis-py (plughost[redis])")

    async def scenario() -> None:
        rate = limiter(storage_url=f"redis://127.0.0.1:{free_port()}/0")
        with pytest.raises(RateLimitUnavailable) as first:
            await rate.hit(client="app", subject="ann", tool="todo_list")
        with pytest.raises(RateLimitUnavailable, match="not retried yet") as second:
            await rate.hit(client="app", subject="ann", tool="todo_list")
        assert not first.value.skipped and second.value.skipped

    asyncio.run(scenario())
