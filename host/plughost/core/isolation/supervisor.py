"""The host's supervisor of isolated plugins' workers: start, watch, replace, call.

Each `Worker` runs one plugin's ``plughost worker <namespace>`` with stdio pipes only the host
holds. When it dies, whatever its exit code or signal, its in-flight calls end at once
(`WorkerUnavailable`) and it is started again after a wait that doubles from
``restart_min_seconds`` to ``restart_max_seconds`` and starts over once a worker stayed up
``stable_seconds``. The host reads its resident memory and replaces it over ``memory_mib``, and
holds it to ``cpu_percent`` of a core once it answers (`cpu_cap.CpuCap`). A call past its
deadline is answered by the host and cancelled in the worker; a worker that then does not
answer a ping within ``kill_grace_seconds`` (a C call holding its GIL) is killed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import Process, TaskGroup
from mcp_types.version import LATEST_HANDSHAKE_VERSION
from pydantic import SecretStr

from plughost import __version__
from plughost.core.isolation.cpu_cap import MAX_PAUSE_SECONDS, CpuCap
from plughost.core.isolation.limits import resident_mib
from plughost.core.isolation.pipe import OnMessage, Pipe, WorkerError, WorkerGone
from plughost.settings import HostSettings, WorkerSettings, load_settings

log = logging.getLogger("plughost.isolation")

#: Set by the host to the namespace a worker serves (`plughost.core.isolation.worker`).
WORKER_ENV = "_PLUGHOST_WORKER"
#: The host's settings, as JSON, for its workers.
SETTINGS_ENV = "_PLUGHOST_WORKER_SETTINGS"
#: How often the host reads a worker's resident memory, and looks whether it has exited.
MEMORY_CHECK_SECONDS = 0.25
EXIT_POLL_SECONDS = 0.05
#: How long a worker stopping with the host may take to run its plugin's shutdown hooks.
STOP_SECONDS = 5.0


class WorkerUnavailable(Exception):
    """The plugin's worker is not running (starting, restarting) or died during the call."""


def worker_command(namespace: str, settings: WorkerSettings) -> list[str]:
    """The command line of ``namespace``'s worker: its own interpreter, or the host's."""
    python = str(settings.python) if settings.python else sys.executable
    return [python, "-m", "plughost", "worker", namespace]


def worker_environment(namespace: str, settings: HostSettings) -> dict[str, str]:
    """The host's environment marked for ``namespace``, with the host's settings as it holds
    them (`SETTINGS_ENV`: the same database, data directory and plugin sections, however they
    were given); few allocator arenas, so the address-space backstop stays meaningful."""
    dumped = json.dumps(settings.model_dump(exclude_unset=True), default=_reveal)
    return {
        **os.environ,
        WORKER_ENV: namespace,
        SETTINGS_ENV: dumped,
        "MALLOC_ARENA_MAX": "2",
    }


def _reveal(value: object) -> object:
    """JSON for what settings hold besides plain values: secrets in the clear (the worker
    needs them, and reads them only from its environment, as the host does), paths as text."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


def worker_settings() -> HostSettings:
    """In a worker: the settings its host handed it, else the environment's."""
    handed = os.environ.get(SETTINGS_ENV)
    return load_settings(**json.loads(handed)) if handed else load_settings()


@dataclass
class Worker:
    """One isolated plugin's worker process, replaced whenever it ends."""

    namespace: str
    settings: WorkerSettings
    start_timeout: float
    #: Its environment (`worker_environment`).
    env: dict[str, str]
    #: Told each time the worker starts answering (True) or stops (False, and why), so the
    #: host refuses the plugin's calls as unavailable at once while it is down.
    on_change: Callable[[bool, str], None] = lambda _up, _why: None
    #: Where what the worker says and asks about its calls goes (`relay.WorkerRelay`).
    on_message: OnMessage | None = None
    restarts: int = 0
    #: Why the last worker ended, for the console and the log.
    last_exit: str | None = None
    pid: int | None = None
    _pipe: Pipe | None = None
    _process: Process | None = None
    _tasks: TaskGroup | None = None
    _cap: CpuCap | None = None
    _ready: anyio.Event = field(default_factory=anyio.Event)
    _kill_reason: str | None = None

    @property
    def running(self) -> bool:
        return self._pipe is not None and not self._pipe.closed

    async def request(
        self, method: str, params: dict[str, Any], *, call: object | None = None
    ) -> dict[str, Any]:
        """One request to the running worker; the caller bounds the wait (and calls
        `after_deadline` when its deadline cut the wait short). ``call`` is the call's record
        the worker's messages about this request are relayed to (`Pipe.request`)."""
        pipe = self._pipe
        if pipe is None or pipe.closed:
            raise WorkerUnavailable(f"plugin {self.namespace!r} is restarting")
        try:
            return await pipe.request(method, params, call=call)
        except WorkerGone:
            reason = self._kill_reason or "its worker process ended"
            raise WorkerUnavailable(
                f"plugin {self.namespace!r} stopped during the call ({reason}) and is restarting"
            ) from None

    @property
    def answer_grace(self) -> float:
        """How long past a call's own deadline the host waits for the worker to answer it:
        ``kill_grace_seconds``, plus the longest its CPU cap may hold it stopped."""
        paused = MAX_PAUSE_SECONDS if self.settings.cpu_percent is not None else 0.0
        return self.settings.kill_grace_seconds + paused

    def after_deadline(self) -> None:
        """A call passed its deadline (the worker was told to cancel it): make sure the
        worker is still answering, or replace it."""
        if self._tasks is not None and self._pipe is not None:
            self._tasks.start_soon(self._ping_or_kill, self._pipe)

    async def _ping_or_kill(self, pipe: Pipe) -> None:
        """After a deadline: a worker that cannot answer a ping at once is stuck; kill it.
        Its CPU cap is lifted meanwhile: stopped by the cap, it could not answer."""
        cap = self._cap
        with (
            cap.lifted() if cap else nullcontext(),
            anyio.move_on_after(self.settings.kill_grace_seconds),
        ):
            with suppress(WorkerGone, WorkerError):
                await pipe.request("ping", {})
            return
        if pipe is self._pipe:
            self.kill("it did not answer after a call's deadline")

    def kill(self, reason: str) -> None:
        """Kill the worker's whole process group now; `run` starts another."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        self._kill_reason = reason
        if self._cap is not None:
            self._cap.release()
        log.warning("killing the worker of plugin %s: %s", self.namespace, reason)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    async def wait_ready(self, timeout: float) -> bool:
        with anyio.move_on_after(timeout):
            await self._ready.wait()
        return self.running

    async def run(self) -> None:
        """Keep a worker running until cancelled, with exponential backoff between starts."""
        delay = self.settings.restart_min_seconds
        while True:
            began = time.monotonic()
            try:
                await self._serve_once()
            except Exception as exc:
                self.last_exit = f"could not start: {type(exc).__name__}: {exc}"
            if time.monotonic() - began >= self.settings.stable_seconds:
                delay = self.settings.restart_min_seconds
            self.restarts += 1
            log.warning(
                "the worker of plugin %s ended (%s); restarting in %.1fs",
                self.namespace,
                self.last_exit,
                delay,
            )
            await anyio.sleep(delay)
            delay = min(delay * 2, self.settings.restart_max_seconds)

    async def _serve_once(self) -> None:
        """Start one worker, shake hands, then watch it until it ends."""
        self._kill_reason = None
        process = await anyio.open_process(
            worker_command(self.namespace, self.settings),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=self.env,
            start_new_session=True,
        )
        assert process.stdin is not None and process.stdout is not None
        self._process, self.pid = process, process.pid
        pipe = Pipe(process.stdin, process.stdout)
        pipe.on_message = self.on_message
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                tasks.start_soon(pipe.read)
                await self._handshake(pipe)
                self._pipe = pipe
                self._ready.set()
                self.on_change(True, "")
                tasks.start_soon(self._watch_memory, process)
                if self.settings.cpu_percent is not None:
                    self._cap = CpuCap(process.pid, self.settings.cpu_percent)
                    tasks.start_soon(self._cap.run)
                await _exited(process)
                tasks.cancel_scope.cancel()
        finally:
            self._pipe = None
            if self._cap is not None:
                self._cap.release()  # stopped, it could not see its stdin close
                self._cap = None
            pipe.close()
            self.on_change(False, "its worker process is restarting")
            with anyio.CancelScope(shield=True):
                await _stop(process)
            self.last_exit = self._kill_reason or _exit_reason(process.returncode)

    async def _handshake(self, pipe: Pipe) -> None:
        with anyio.fail_after(self.start_timeout):
            await pipe.request(
                "initialize",
                {
                    "protocolVersion": LATEST_HANDSHAKE_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "plughost", "version": __version__},
                },
            )
        await pipe.notify("notifications/initialized", None)

    async def _watch_memory(self, process: Process) -> None:
        limit = self.settings.memory_mib
        while process.returncode is None:
            used = resident_mib(process.pid)
            if used is not None and used > limit:
                self.kill(f"{used:.0f} MiB resident, over its limit of {limit} MiB")
                return
            await anyio.sleep(MEMORY_CHECK_SECONDS)


async def _exited(process: Process) -> None:
    """Until the worker process has exited. Not ``process.wait()``: that also waits for its
    pipes to close, which a child the plugin started may keep open after the worker died."""
    while process.returncode is None:
        await anyio.sleep(EXIT_POLL_SECONDS)


async def _stop(process: Process) -> None:
    """Close the worker's stdin so it can shut its plugin down, then kill what is left."""
    if process.stdin is not None:
        with suppress(Exception):
            await process.stdin.aclose()
    with anyio.move_on_after(STOP_SECONDS):
        await _exited(process)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # and whatever the plugin left in its group
    with anyio.move_on_after(1):
        await _exited(process)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


@dataclass
class Workers:
    """Every isolated plugin's worker, kept running for as long as the host serves."""

    workers: dict[str, Worker] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.workers)

    def add(
        self, namespace: str, host: HostSettings, on_change: Callable[[bool, str], None]
    ) -> Worker:
        """Supervise ``namespace``'s worker, for a host with the settings ``host``."""
        worker = Worker(
            namespace,
            host.worker(namespace),
            host.plugin_start_timeout_seconds,
            worker_environment(namespace, host),
            on_change,
        )
        self.workers[namespace] = worker
        return worker

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Start every worker, wait (within each start deadline) until they answer, stop
        them all when the host stops.

        Each worker's supervision is a task of its own on the host's loop, not a task group
        held across the lifespan: FastMCP may leave the lifespan from another task than the
        one that entered it.
        """
        tasks = [asyncio.ensure_future(worker.run()) for worker in self.workers.values()]
        try:
            for worker in self.workers.values():
                if not await worker.wait_ready(worker.start_timeout):
                    log.error("the worker of plugin %s did not start", worker.namespace)
            yield
        finally:
            for task in tasks:
                task.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_SECONDS + 2):
                await asyncio.gather(*tasks, return_exceptions=True)
