"""What a call to an isolated plugin and to a remote server costs, against in-process.

Three ``plughost serve`` processes with (c)'s settings, the echo tool in-process
("in_process"), in the echo plugin isolated in a supervised worker ("isolated",
``PLUGHOST_ISOLATION__BENCH=process``), and served by a bare FastMCP server the host mounts
over streamable HTTP ("remote", bench/remote.py), measured side by side at 16 clients, taking
turns. Server CPU counts every process a call runs in, so an isolated call's CPU is the host's
and its worker's together, a remote call's the host's and the upstream's; the issue's budget
for an isolated call is at most twice an in-process call's (a remote call's is reported only).
"""

from __future__ import annotations

from typing import Any

from bench import plugins, remote
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
    found["remote"] = remote.target(options, "remote", split[0] if split else None)
    if split:
        found["remote"].server.cpus, found["remote"].load_cpus = split
    return found


def run(options: Options) -> dict[str, Any]:
    servers = targets(options)
    try:
        start(servers, options)
        runs = interleaved(options, servers, CLIENTS, "isolation")
    finally:
        stop(servers)
    return {"runs": runs, "budget": BUDGET}
