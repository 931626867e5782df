"""What a call to an isolated plugin costs: the echo tool in the host's process and in a worker.

Two ``plughost serve`` processes with (c)'s settings, the echo plugin in-process ("in_process")
and isolated in a supervised worker ("isolated", ``PLUGHOST_ISOLATION__BENCH=process``),
measured side by side at 16 clients, taking turns. Server CPU counts every process of a
server, so an isolated call's CPU is the host's and its worker's together; the issue's budget
is at most twice an in-process call's.
"""

from __future__ import annotations

from typing import Any

from bench import plugins
from bench.options import Options
from bench.procs import PlughostSetup, call_body, core_split, free_port
from bench.throughput import ARGUMENTS, Target, interleaved, start, stop

CLIENTS = (16,)
VARIANTS = {"in_process": {}, "isolated": {"PLUGHOST_ISOLATION__BENCH": "process"}}
#: The issue's budget: an isolated call's CPU over an in-process call's.
BUDGET = 2.0


def targets(options: Options) -> dict[str, Target]:
    found: dict[str, Target] = {}
    split = core_split()
    for variant, settings in VARIANTS.items():
        workdir = options.dir(f"isolation-{variant}")
        site = workdir / "site"
        setup = PlughostSetup(workdir, site, plugins.echo_plugin(site), settings=settings)
        port = free_port()
        token = setup.token([f"{plugins.ECHO_NAMESPACE}:call"], port)
        target = Target(setup.server(variant, port), call_body(plugins.ECHO_TOOL, ARGUMENTS), token)
        if split:
            target.server.cpus, target.load_cpus = split
        found[variant] = target
    return found


def run(options: Options) -> dict[str, Any]:
    servers = targets(options)
    try:
        start(servers, options)
        runs = interleaved(options, servers, CLIENTS, "isolation")
    finally:
        stop(servers)
    return {"runs": runs, "budget": BUDGET}
