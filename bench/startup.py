"""Start-up time (process start to the first successful tool call) and resident memory.

Plughost with 1, 3, 20 and 100 small installed plugins (two tools, two scopes each), against
the floor of any FastMCP server, ``python -c "import fastmcp"``, and a bare FastMCP server with
one tool. Every configuration gets one unmeasured start first, which writes the bytecode
caches a deployed server would have.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from bench import plugins
from bench.options import Options
from bench.procs import PlughostSetup, Server, call_body, free_port, python_module, server_env
from bench.servers import TOOL

PLUGIN_COUNTS = (1, 3, 20, 100)
FLOOR = (
    "import fastmcp, os; "
    "print(os.sysconf('SC_PAGE_SIZE') * int(open('/proc/self/statm').read().split()[1]))"
)


def floor() -> tuple[float, int]:
    """Seconds and resident bytes of a Python that imports fastmcp and exits."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", FLOOR],
        env=server_env({}),
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, int(done.stdout.strip())


def _start(server: Server, body: str, token: str | None) -> tuple[float, int]:
    server.start()
    try:
        seconds = server.wait_ready(body, token)
        return seconds, server.rss_bytes()
    finally:
        server.stop()


def run(options: Options) -> dict[str, Any]:
    configs: dict[str, tuple[Server, str, str | None]] = {}
    for count in PLUGIN_COUNTS:
        workdir = options.dir(f"startup-{count}")
        site = workdir / "site"
        setup = PlughostSetup(workdir, site, plugins.small_plugins(site, count))
        port = free_port()
        token = setup.token(["p0000:read"], port)
        body = call_body("p0000_item0", {"key": "k"})
        configs[f"plughost-{count}"] = (setup.server(f"plughost-{count}", port), body, token)
    port = free_port()
    bare = Server(
        "fastmcp",
        python_module("bench.servers", "baseline", "--port", str(port)),
        port,
        log=options.dir("startup-fastmcp") / "fastmcp.log",
    )
    configs["fastmcp"] = (bare, call_body(TOOL, {"text": "hi"}), None)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in ["floor", *configs]}
    floor()
    for server, body, token in configs.values():
        _start(server, body, token)
    for rep in range(options.reps):
        seconds, rss = floor()
        runs["floor"].append({"seconds": seconds, "rss_bytes": rss})
        for name, (server, body, token) in configs.items():
            seconds, rss = _start(server, body, token)
            runs[name].append({"seconds": seconds, "rss_bytes": rss})
            print(
                f"  start-up rep {rep + 1} {name:>12}: {seconds:5.2f} s, {rss / 2**20:6.1f} MiB",
                flush=True,
            )
    return {"runs": runs, "plugin_counts": list(PLUGIN_COUNTS), "tools_per_plugin": 2}
