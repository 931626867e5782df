"""Server processes: start one, wait for its first successful tool call, read its memory, stop.

Every server under test is a subprocess on 127.0.0.1, so the host is measured as operators run
it (``python -m plughost serve``), and a crash or a hang cannot take the benchmark with it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL_VERSION = "2025-11-25"
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": PROTOCOL_VERSION,
}


def core_split() -> tuple[frozenset[int], frozenset[int]] | None:
    """One core for the server under test and the others for the load generator, so the two
    never take turns on a core; None with fewer than two cores."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return frozenset(cores[-1:]), frozenset(cores[:-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_body(method: str, params: dict[str, Any] | None = None) -> str:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message, separators=(",", ":"))


def call_body(tool: str, arguments: dict[str, Any]) -> str:
    return rpc_body("tools/call", {"name": tool, "arguments": arguments})


def headers(token: str | None) -> dict[str, str]:
    return {**HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}


def answered(response: httpx.Response) -> bool:
    """HTTP 200 carrying a JSON-RPC result that is not a tool error."""
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    result = body.get("result") if isinstance(body, dict) else None
    return isinstance(result, dict) and not result.get("isError")


@dataclass
class Server:
    """One server under test, as a subprocess."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    cpus: frozenset[int] | None = None
    #: Send stdout to /dev/null (spans the console exporter prints), stderr still to the log.
    quiet_stdout: bool = False
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def start(self) -> Server:
        env = server_env(self.env)
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL if self.quiet_stdout else out,
            stderr=out,
            start_new_session=True,
        )
        if self.cpus:  # before the interpreter starts threads or workers, which inherit it
            os.sched_setaffinity(self.proc.pid, self.cpus)
        return self

    def wait_ready(self, body: str, token: str | None, timeout: float = 120) -> float:
        """Poll with ``body`` until it is answered; return seconds since `start`."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early; see {self.log}")
                try:
                    response = client.post(self.mcp_url, content=body, headers=headers(token))
                except httpx.TransportError:
                    time.sleep(0.01)
                    continue
                if answered(response):
                    return time.perf_counter() - self.started_at
                raise RuntimeError(
                    f"{self.name} answered {response.status_code}: {response.text[:300]}"
                )
        raise RuntimeError(f"{self.name} did not answer within {timeout}s; see {self.log}")

    def describe(self) -> str:
        """Whether the process still runs, and the end of its log: for a failed measurement."""
        state = "running" if self.proc and self.proc.poll() is None else "exited"
        if self.proc and self.proc.poll() is not None:
            state += f" with code {self.proc.returncode}"
        tail = (
            self.log.read_text(errors="replace")[-2000:] if self.log and self.log.exists() else ""
        )
        return f"{self.name} ({state}); log {self.log}:\n{tail}"

    def rss_bytes(self) -> int:
        """Resident memory of the server and its worker processes."""
        if self.proc is None:
            return 0
        parent = psutil.Process(self.proc.pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a process under test: ours, with bytecode caching on.

    Some shells and CI images set PYTHONDONTWRITEBYTECODE; a deployed server has its ``.pyc``
    files, so start-up is measured with them (the first, unmeasured start writes them).
    """
    env = {**os.environ, "PYTHONPATH": python_path(ROOT), **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def python_path(*entries: Path) -> str:
    """``entries`` ahead of whatever PYTHONPATH this run was given (to bench a source tree)."""
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*(str(e) for e in entries), *([inherited] if inherited else [])])


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@dataclass
class PlughostSetup:
    """What a ``plughost serve`` under test needs: data directory, plugins, settings."""

    workdir: Path
    site: Path
    namespaces: list[str]
    settings: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            "PYTHONPATH": python_path(self.site, ROOT),
            "PLUGHOST_DATA_DIR": str(self.workdir / "data"),
            "PLUGHOST_ENABLED_PLUGINS": ",".join(self.namespaces),
            "PLUGHOST_RATE_LIMIT__DEFAULT": "1000000/minute",
            "PLUGHOST_RATE_LIMIT__LISTS": "1000000/minute",
            "PLUGHOST_AUDIT__SINK": "file",
            "PLUGHOST_AUDIT__FILE": str(self.workdir / "audit.jsonl"),
            **self.settings,
        }

    def server(
        self, name: str, port: int, *, workers: int = 1, log_level: str = "warning"
    ) -> Server:
        argv = python_module(
            "plughost",
            "serve",
            *("--port", str(port), "--workers", str(workers), "--log-level", log_level),
        )
        return Server(name, argv, port, env=self.env(), log=self.workdir / f"{name}.log")

    def token(self, scopes: list[str], port: int) -> str:
        """A token from ``plughost token``, for the host that will serve on ``port``."""
        argv = python_module(
            "plughost", "token", "--scope", " ".join(scopes), "--url", f"http://127.0.0.1:{port}"
        )
        done = subprocess.run(
            argv, env=server_env(self.env()), cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"plughost token failed: {done.stderr.strip()}")
        return done.stdout.strip()
