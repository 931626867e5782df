"""A worker's limits: what it sets on itself at start, and what the host reads of it.

The worker lowers its own CPU priority and caps its address space before the plugin is
imported (a backstop: a generous multiple of the memory limit, since threads and allocator
arenas reserve far more address space than they use). The host enforces the memory limit
itself by reading the worker's resident size (`resident_mib`) and replacing a worker over it.
"""

from __future__ import annotations

import os
import resource

#: Address space beyond the memory limit a worker may reserve before allocations fail.
_ADDRESS_SPACE_FACTOR = 4
_ADDRESS_SPACE_SLACK_MIB = 2048
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def limit_self(memory_mib: int, nice: int) -> None:
    """Lower this process's priority by ``nice`` and cap its address space."""
    if nice:
        os.nice(nice)
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
