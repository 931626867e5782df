"""``plughost serve``'s process manager: a server process that dies is replaced.

uvicorn's own manager (`Multiprocess`) replaces a dead worker, except one whose exit code is 3,
which it reads as a failure to start and stops the whole server for; a plugin that calls
``os._exit(3)`` while serving would do exactly that. `Replacing` remembers which processes have
started serving: one of those is replaced whatever its exit code or signal, and only a process
that never served and exits with 3 (broken settings, a port in use: every replacement would
fail the same way) stops the server. A process that stops answering uvicorn's health check
(a C call holding its GIL) is killed and replaced, as uvicorn does.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import sys

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("plughost.serve")

#: Linux ``prctl`` option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


class Replacing(Multiprocess):
    """uvicorn's process manager, replacing every server process that has served."""

    def __init__(self, config: Config, sockets: list) -> None:  # type: ignore[type-arg]
        super().__init__(config, sockets)
        self.served: set[int] = set()
        self.replaced = 0

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        timeout = self.config.timeout_worker_healthcheck
        for index, process in enumerate(self.processes):
            if process.pid in self.served and process.is_alive(timeout=timeout):
                continue
            if process.pid not in self.served and process.is_ready(timeout=timeout):
                self.served.add(process.pid)  # type: ignore[arg-type]
                continue
            if process.process.is_alive() and process.pid not in self.served:
                continue  # still starting
            process.kill()
            process.join()
            served = process.pid in self.served
            if not served and process.exitcode == STARTUP_FAILURE:
                log.error("server process %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            self.replaced += 1
            log.warning(
                "server process %s ended (%s); starting another",
                process.pid,
                _ending(process.exitcode),
            )
            replacement = type(process)(self.config, self.sockets)
            replacement.start()
            self.processes[index] = replacement


def _ending(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit code {code}"


def die_with_parent() -> None:
    """Have this server process stopped (SIGTERM, a graceful shutdown) when its manager dies,
    even by SIGKILL, so no orphan keeps serving on the port (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
