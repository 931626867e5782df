"""Scale-out: calls per second with one and with two worker processes, at 64 clients.

Plughost (``plughost serve --workers N``) and the bare FastMCP baseline (uvicorn workers) are
measured alike. The load generator shares the machine's cores with the workers, which caps
what a second worker can add; the baseline's gain shows that cap.
"""

from __future__ import annotations

from typing import Any

from bench import plugins
from bench.options import Options
from bench.procs import PlughostSetup, Server, call_body, free_port, python_module
from bench.servers import TOOL
from bench.throughput import ARGUMENTS, Target, interleaved, start, stop

CLIENTS = 64


def _targets(options: Options) -> dict[str, Target]:
    workdir = options.dir("scaleout")
    setup = PlughostSetup(workdir, workdir / "site", plugins.echo_plugin(workdir / "site"))
    found: dict[str, Target] = {}
    for workers in (1, 2):
        port = free_port()
        token = setup.token([f"{plugins.ECHO_NAMESPACE}:call"], port)
        found[f"plughost-{workers}"] = Target(
            setup.server(f"plughost-{workers}", port, workers=workers),
            call_body(plugins.ECHO_TOOL, ARGUMENTS),
            token,
        )
        port = free_port()
        argv = python_module("bench.servers", "baseline", "--port", str(port))
        found[f"baseline-{workers}"] = Target(
            Server(
                f"baseline-{workers}",
                [*argv, "--workers", str(workers)],
                port,
                log=workdir / f"baseline-{workers}.log",
            ),
            call_body(TOOL, ARGUMENTS),
            None,
        )
    return found


def run(options: Options) -> dict[str, Any]:
    targets = _targets(options)
    try:
        start(targets, options)
        runs = interleaved(options, targets, (CLIENTS,), "scale-out")
    finally:
        stop(targets)
    return {"runs": {name: by_clients[str(CLIENTS)] for name, by_clients in runs.items()}}
