"""Where a tool call's time goes: ``plughost serve`` under cProfile while wrk loads it.

Profiled twice, with the fast path and without it, at 16 clients for at least 20 s (start-up
is in the profile too, a small share of it). The report groups the
functions' own time by package (the MCP SDK's transport, FastMCP, Plughost, uvicorn and h11,
pydantic, the standard library's asyncio) and lists the heaviest functions, so RESULTS.md says
where the time went before and after the fast path.
"""

from __future__ import annotations

import contextlib
import pstats
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import plugins
from bench.options import Options
from bench.procs import PlughostSetup, Server, call_body, free_port
from bench.throughput import ARGUMENTS, Target

#: Path fragments that name a package, most specific first.
GROUPS = (
    ("mcp/server/streamable", "MCP SDK transport (per-request session, streams)"),
    ("mcp/", "MCP SDK (other)"),
    ("mcp_types/", "MCP SDK (other)"),
    ("fastmcp/", "FastMCP"),
    ("plughost/", "Plughost"),
    ("plughost_", "Plughost"),
    ("uvicorn/", "uvicorn + h11"),
    ("h11/", "uvicorn + h11"),
    ("pydantic", "pydantic"),
    ("anyio/", "anyio"),
    ("starlette/", "starlette"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncio/", "asyncio"),
)


def run(options: Options) -> dict[str, Any]:
    workdir = options.dir("profile")
    setup = PlughostSetup(workdir, workdir / "site", plugins.echo_plugin(workdir / "site"))
    found: dict[str, Any] = {}
    for label, fast in (("fast path", "true"), ("transport", "false")):
        port = free_port()
        token = setup.token([f"{plugins.ECHO_NAMESPACE}:call"], port)
        out = workdir / f"{label.replace(' ', '-')}.prof"
        setup.settings["PLUGHOST_FAST_PATH"] = fast
        server = setup.server(f"profile-{fast}", port)
        # --no-supervise: the server in this very process, not in a supervised child that
        # cProfile would not see (the parent only waits on its child).
        argv = [*server.argv[1:], "--no-supervise"]
        server.argv = [sys.executable, "-m", "cProfile", "-o", str(out), *argv]
        target = Target(server, call_body(plugins.ECHO_TOOL, ARGUMENTS), token)
        server.start()
        try:
            server.wait_ready(target.body, token)
            load = target.measure(options, 16, max(20.0, options.seconds * 4))
        finally:
            _interrupt(server)
            server.stop()
        found[label] = {"load": load, **summarize(out)}
    return found


def _interrupt(server: Server) -> None:
    """Stop with SIGINT: uvicorn shuts down, then re-raises the signal; as KeyboardInterrupt it
    still lets cProfile write its file (a re-raised SIGTERM would kill the process first)."""
    if server.proc is not None and server.proc.poll() is None:
        server.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=30)


def summarize(path: Path, top: int = 12) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    groups: dict[str, float] = defaultdict(float)
    heaviest = []
    for (filename, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        groups[_group(filename)] += own
        heaviest.append((own, f"{_short(filename)}:{line} {name}"))
    heaviest.sort(reverse=True)
    return {
        "total_s": total,
        "groups": {k: v / total for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "heaviest": [(label, own / total) for own, label in heaviest[:top]],
    }


def _group(filename: str) -> str:
    for fragment, group in GROUPS:
        if fragment in filename:
            return group
    return "built-ins and the rest (socket I/O, json, start-up imports)"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "host/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
