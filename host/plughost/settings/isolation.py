"""Which plugins run in a worker process of their own, and that worker's limits.

``PLUGHOST_ISOLATION__<NAMESPACE>=process`` moves one plugin out of the host's process; the
default, ``in_process``, keeps today's speed. ``PLUGHOST_WORKERS__<NAMESPACE>__<FIELD>`` sets
that plugin's worker limits (`WorkerSettings`); a namespace without a section gets the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from plughost.settings.fields import bounded, wait

Isolation = Literal["in_process", "process"]


class WorkerSettings(BaseModel):
    """One isolated plugin's worker: its interpreter, memory, CPU and restart pacing."""

    model_config = {"extra": "forbid"}

    python: Path | None = Field(
        None,
        description="The interpreter the worker runs (e.g. a virtualenv's bin/python made with "
        "`plughost isolate create`); default: the host's own.",
    )
    memory_mib: int = bounded(
        1024,
        "Resident memory (MiB) above which the worker is replaced; its address space is capped "
        "at four times this as a backstop.",
        at_least=32,
    )
    nice: int = bounded(
        5, "How much lower the worker's CPU priority is than the host's (0-19).", at_least=0
    )
    cpu_percent: int | None = Field(
        None,
        ge=5,
        le=100 * (os.cpu_count() or 1),
        description="A hard cap on the worker's CPU, in percent of one core (e.g. 50; 200 is two "
        "cores): the host stops the worker whenever it is over it. Default: no cap.",
    )
    restart_min_seconds: float = wait(0.2, "First wait before restarting a dead worker.")
    restart_max_seconds: float = wait(5.0, "Longest wait between restarts (it doubles).")
    stable_seconds: float = wait(
        30.0, "A worker up this long counts as healthy: its next restart waits the least again."
    )
    kill_grace_seconds: float = wait(
        0.5,
        "After a call's deadline, how long the worker has to acknowledge the cancellation "
        "before it is killed and restarted.",
        at_most=30,
    )
