"""The reference servers: (a) bare FastMCP and (b) FastMCP with its own `JWTVerifier`.

Both serve the same trivial tool as the Plughost bench plugin, over stateless streamable HTTP
with JSON responses at ``/mcp``, with the uvicorn settings ``plughost serve`` uses. Run as
``python -m bench.servers baseline --port N`` or ``python -m bench.servers peer --port N``
(the peer reads its issuer, audience and PEM public key file from ``BENCH_PEER_*``, so it
verifies the very tokens Plughost's dev issuer mints).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import uvicorn
from fastmcp import FastMCP
from starlette.applications import Starlette

TOOL = "echo"


async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


def _server(auth: Any = None, tools: int = 1) -> FastMCP:
    mcp = FastMCP(name="bench", auth=auth)
    mcp.tool(echo, name=TOOL)
    for i in range(1, tools):
        mcp.tool(echo, name=f"{TOOL}{i}")
    return mcp


def baseline_app() -> Starlette:
    """(a) No auth: the floor every MCP server over HTTP pays.

    ``BENCH_TOOLS=N`` registers N copies of the tool (for ``tools/list``); ``BENCH_TUNED_GC=1``
    applies the garbage-collector settings ``plughost serve`` uses, to tell what the host's
    layers cost apart from what its process tuning saves.
    """
    tools = int(os.environ.get("BENCH_TOOLS", "1"))
    app = _server(tools=tools).http_app(path="/mcp", stateless_http=True, json_response=True)
    if os.environ.get("BENCH_TUNED_GC") == "1":
        from plughost.app import tune_gc_for_serving

        tune_gc_for_serving()
    return app


def peer_app() -> Starlette:
    """(b) FastMCP's own resource server: every call's JWT verified by `JWTVerifier`."""
    from fastmcp.server.auth.providers.jwt import JWTVerifier

    verifier = JWTVerifier(
        public_key=Path(os.environ["BENCH_PEER_PUBLIC_KEY"]).read_text(),
        issuer=os.environ["BENCH_PEER_ISSUER"],
        audience=os.environ["BENCH_PEER_AUDIENCE"],
        algorithm="RS256",
    )
    return _server(auth=verifier).http_app(path="/mcp", stateless_http=True, json_response=True)


#: The uvicorn options `plughost serve` uses, so every server runs under the same settings.
UVICORN_OPTIONS: dict[str, Any] = {
    "host": "127.0.0.1",
    "log_level": "warning",
    "log_config": None,
    "access_log": False,
    "proxy_headers": False,
    "lifespan": "on",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["baseline", "peer"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    factory = f"bench.servers:{args.kind}_app"
    uvicorn.run(factory, factory=True, port=args.port, workers=args.workers, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
