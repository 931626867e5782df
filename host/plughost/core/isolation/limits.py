"""A worker's limits: what it sets on itself at start, and what the host reads of it.

The worker lowers its own CPU priority, asks to be continued (``SIGCONT``) should its host die
while its CPU cap holds it stopped (`cpu_cap`; stopped, it would never see its pipe close), and
caps its address space before the plugin is imported (a backstop: a generous multiple of the
memory limit, since threads and allocator arenas reserve far more address space than they
use). The host enforces the memory limit itself by reading the worker's resident size
(`resident_mib`) and replacing a worker over it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from contextlib import suppress

#: Address space beyond the memory limit a worker may reserve before allocations fail.
_ADDRESS_SPACE_FACTOR = 4
_ADDRESS_SPACE_SLACK_MIB = 2048
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
#: Linux's prctl option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def limit_self(memory_mib: int, nice: int) -> None:
    """Lower this process's priority by ``nice``, be continued if the host dies, and cap
    this process's address space."""
    if nice:
        os.nice(nice)
    continue_when_orphaned()
    cap = (memory_mib * _ADDRESS_SPACE_FACTOR + _ADDRESS_SPACE_SLACK_MIB) * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or cap < hard:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def resident_mib(pid: int) -> float | None:
    """The resident memory of process ``pid`` in MiB (Linux ``/proc``), None when gone."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * _PAGE_SIZE / (1024 * 1024)


def continue_when_orphaned() -> None:
    """Have Linux send this process ``SIGCONT`` when its parent dies (a no-op on a running
    process), so a worker stopped by its CPU cap when its host is killed resumes, sees its
    stdin close and exits instead of staying stopped for good."""
    with suppress(OSError, AttributeError):  # not Linux: nothing to ask
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGCONT), 0, 0, 0)
