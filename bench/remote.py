"""What a call to a mounted remote MCP server costs: the echo tool, served by bare FastMCP.

The upstream is (a) of bench/servers.py (stateless streamable HTTP, JSON responses), in its
own process on the server's core, as an isolated plugin's worker is; ``plughost serve`` with
(c)'s settings mounts it under the namespace ``remote`` (``PLUGHOST_MOUNTS__REMOTE__URL``) and
forwards each ``remote_echo`` call over one kept-open client session. A remote call's CPU is
the host's and the upstream's together; the host's share is recorded apart.
"""

from __future__ import annotations

import json

from bench import plugins, servers
from bench.options import Options
from bench.procs import PlughostSetup, Server, call_body, free_port, python_module
from bench.throughput import ARGUMENTS, Target

NAMESPACE = "remote"
SCOPE = f"{NAMESPACE}:call"
TOOL = f"{NAMESPACE}_{servers.TOOL}"


def mount_settings(url: str) -> dict[str, str]:
    """The operator's settings mounting the upstream at ``url``: one scope, one tool."""
    prefix = f"PLUGHOST_MOUNTS__{NAMESPACE.upper()}__"
    return {
        f"{prefix}URL": url,
        f"{prefix}SCOPES": json.dumps({SCOPE: "Call the bench upstream's echo"}),
        f"{prefix}TOOLS": json.dumps({servers.TOOL: [SCOPE]}),
    }


def target(options: Options, name: str, cpus: frozenset[int] | None) -> Target:
    """The host with the upstream mounted (neither started), calling ``remote_echo``.

    The host also loads the echo plugin, so the only difference from the in-process variant
    is where the tool runs.
    """
    workdir = options.dir(f"isolation-{name}")
    site = workdir / "site"
    port = free_port()
    argv = python_module("bench.servers", "baseline", "--port", str(port))
    upstream = Server("upstream", argv, port, log=workdir / "upstream.log", cpus=cpus)
    setup = PlughostSetup(
        workdir, site, plugins.echo_plugin(site), settings=mount_settings(upstream.mcp_url)
    )
    host_port = free_port()
    token = setup.token([SCOPE], host_port)
    return Target(
        setup.server(name, host_port),
        call_body(TOOL, ARGUMENTS),
        token,
        upstream=(upstream, call_body(servers.TOOL, ARGUMENTS)),
    )
