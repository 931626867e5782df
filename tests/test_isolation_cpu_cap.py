"""An isolated plugin's worker held to its CPU cap, over real HTTP (issue 26).

``faulty`` (tests/plugins/isolation_faulty.py) runs in a worker capped at 20% of a core
(``PLUGHOST_WORKERS__FAULTY__CPU_PERCENT``). Its busy loop runs past the tool's 1 s deadline:
the call ends cleanly with the tool's timeout, the worker, stopped and continued by the host,
uses about its share of a core meanwhile (read from ``/proc``), and it is not killed for being
stopped when the host pings it after the deadline: the same process serves the next call.
When the host stops meanwhile, the worker is continued first, so it shuts its plugin down;
when the host is killed meanwhile, Linux continues it (its parent-death signal), so it exits.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from processes import Served, isolated_faulty_env, serve

from plughost.testing import McpClient

CAP_PERCENT = 20
BUSY_SECONDS = 2.0


@dataclass
class Capped:
    served: Served
    faulty: McpClient
    shutdown_marker: Path


def _serve_capped(root: Path) -> Capped:
    """``plughost serve`` with ``faulty`` isolated and capped at `CAP_PERCENT`."""
    marker = root / "shutdown"
    env = isolated_faulty_env(
        root,
        PLUGHOST_WORKERS__FAULTY__CPU_PERCENT=str(CAP_PERCENT),
        FAULTY_SHUTDOWN_MARKER=str(marker),
    )
    served = serve(env, "--log-level", "warning")
    return Capped(served, served.client("faulty:use"), marker)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capped]:
    capped = _serve_capped(tmp_path_factory.mktemp("cpucap"))
    served = capped.served
    try:
        yield capped
    finally:
        if served.proc.poll() is None:  # the last test stops it itself
            served.stop()


def _cpu_seconds(pid: int) -> float:
    """The CPU time process ``pid`` has used, as ``/proc`` reports it."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_capped_worker_uses_about_its_share_and_is_served_after(host: Capped) -> None:
    before = host.faulty.call("faulty_alive")
    assert before.ok, before.text
    pid = before.data["pid"]

    began, used = time.monotonic(), _cpu_seconds(pid)
    reply = host.faulty.call("faulty_misbehave", how="busy", seconds=BUSY_SECONDS)
    assert reply.status_code == 200
    assert reply.error["code"] == "timeout"  # its 1 s deadline, answered by the host
    time.sleep(max(0.0, BUSY_SECONDS - (time.monotonic() - began)))  # the loop runs on
    share = (_cpu_seconds(pid) - used) / (time.monotonic() - began)

    assert share < 0.5, f"the worker used {share:.0%} of a core, capped at {CAP_PERCENT}%"
    after = host.faulty.call("faulty_alive")
    assert after.ok, after.text
    assert after.data["pid"] == pid  # stopped by the cap, not killed for it


def _until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds (within 15 s, so a failure does not hang the run)."""
    for _ in range(1500):
        if condition():
            return
        time.sleep(0.01)


def _parent(pid: int) -> int:
    """The process that started ``pid`` (its server process, under ``plughost serve``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _state(pid: int) -> str | None:
    """Process ``pid``'s state letter (``T``: stopped), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_a_worker_stopped_by_its_cap_shuts_its_plugin_down_with_the_host(host: Capped) -> None:
    pid = host.faulty.call("faulty_alive").data["pid"]
    reply = host.faulty.call("faulty_misbehave", how="busy", seconds=BUSY_SECONDS)
    assert reply.error["code"] == "timeout"  # its loop runs on, held to its cap

    host.served.stop()

    assert host.shutdown_marker.read_text().split() == [str(pid)]
    assert _state(pid) in (None, "Z")


def test_a_worker_stopped_by_its_cap_exits_when_its_host_is_killed(tmp_path: Path) -> None:
    capped = _serve_capped(tmp_path)
    pid = capped.faulty.call("faulty_alive").data["pid"]
    try:
        reply = capped.faulty.call("faulty_misbehave", how="busy", seconds=BUSY_SECONDS)
        assert reply.error["code"] == "timeout"

        _until(lambda: _state(pid) == "T")  # stopped by its cap
        os.kill(_parent(pid), signal.SIGKILL)  # the server process that runs the cap, at once

        _until(lambda: _state(pid) in (None, "Z"))  # it sees its stdin closed and exits
        assert _state(pid) in (None, "Z"), f"the orphaned worker is in state {_state(pid)}"
        assert capped.shutdown_marker.read_text().split() == [str(pid)]
    finally:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        capped.served.stop()
