"""A hard CPU cap on an isolated plugin's worker, enforced by the host as ``cpulimit`` does.

``nice`` only lowers a worker's priority: alone on idle cores it still takes all it can. Most
containers have no writable cgroup (``cpu.max``), so the host caps a worker itself: every
`PERIOD_SECONDS` it reads the worker's CPU time from ``/proc`` and, once the worker has used
more than its share of one core (``cpu_percent``), stops its whole process group (``SIGSTOP``)
until its share has caught up, then continues it (``SIGCONT``). A stopped process neither
answers nor notices its pipe closing, so the supervisor lifts the cap while it pings the worker
after a deadline (`CpuCap.lifted`) and resumes it for good before stopping or killing it
(`CpuCap.release`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

#: How often the host reads a capped worker's CPU time.
PERIOD_SECONDS = 0.05
#: The longest a worker stays stopped at once: a 5% share pays for one period's burst in
#: 0.95 s. The host waits this much longer for a capped worker's answer past a deadline.
MAX_PAUSE_SECONDS = 1.0
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) process ``pid`` has used, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND
    except (OSError, IndexError, ValueError):
        return None


class CpuCap:
    """Holds process group ``pid`` (the worker and what it started) to ``percent`` of one core."""

    def __init__(self, pid: int, percent: int) -> None:
        self.pid = pid
        self.share = percent / 100
        self._lifts = 0
        self._released = False

    async def run(self) -> None:
        """Until the worker is gone or `release`: stop it whenever it is over its share.

        Its overuse is a debt (CPU used minus its share of the time passed, with at most one
        period of unused share saved up); a worker in debt is stopped until the debt is paid,
        at most `MAX_PAUSE_SECONDS`, then runs at least one period, so a stopped worker
        answers within `MAX_PAUSE_SECONDS` plus its own time.
        """
        began, used = time.monotonic(), cpu_seconds(self.pid)
        debt = 0.0
        try:
            while used is not None and not self._released:
                await anyio.sleep(PERIOD_SECONDS)
                now, total = time.monotonic(), cpu_seconds(self.pid)
                if total is None:
                    return
                debt += total - used - self.share * (now - began)
                debt = 0.0 if self._lifts else max(debt, -self.share * PERIOD_SECONDS)
                began, used = now, total
                if debt > 0 and self._signal(signal.SIGSTOP):
                    await anyio.sleep(min(debt / self.share, MAX_PAUSE_SECONDS))
                    self._signal(signal.SIGCONT)
        finally:
            self._signal(signal.SIGCONT)  # never left stopped by a cap that stopped watching

    @contextmanager
    def lifted(self) -> Iterator[None]:
        """The worker runs uncapped inside: stopped, it could not answer the host's ping."""
        self._lifts += 1
        self._signal(signal.SIGCONT)
        try:
            yield
        finally:
            self._lifts -= 1

    def release(self) -> None:
        """Continue the worker for good, before it is asked to stop or is killed (a stopped
        process ignores ``SIGTERM`` and its closed stdin until continued)."""
        self._released = True
        self._signal(signal.SIGCONT)

    def _signal(self, signum: signal.Signals) -> bool:
        """Signal the worker's process group; False when it was not (gone, or a stop while
        the cap is lifted or released)."""
        if signum is signal.SIGSTOP and (self._lifts or self._released):
            return False
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True
