"""A small MCP server the mount tests serve under a namespace, as an operator's existing one.

Run as ``python weather.py`` it speaks MCP on stdio; ``python weather.py --http PORT`` serves
streamable HTTP on 127.0.0.1:PORT at /mcp. It records what it was sent (the ``_meta`` the
host forwards) so tests can read it back through the ``last_meta`` tool. Its resources,
template and prompt (with completions) are mounted by `tests/test_mount_components.py`;
``toggle_extra`` adds or removes a resource and a tool, to see a refresh follow.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from fastmcp import Context, FastMCP
from fastmcp.exceptions import ResourceError, ToolError
from fastmcp.resources import Resource
from fastmcp.server.dependencies import get_context, get_http_headers
from fastmcp.tools import Tool

server = FastMCP(name="weather", version="1.4.2")
_seen: dict[str, Any] = {}
CITIES = ["Lima", "Lisbon", "London", "Oslo"]


@server.tool
def forecast(city: str) -> dict[str, Any]:
    """Tomorrow's forecast for a city."""
    return {"city": city, "sky": "clear", "pid": os.getpid()}


@server.tool
async def last_meta(ctx: Context) -> dict[str, Any]:
    """The _meta and Authorization header of the previous forecast call, for tests."""
    return _seen


@server.tool
async def remember(ctx: Context) -> str:
    """Note this request's _meta and Authorization header (read back by last_meta)."""
    meta = ctx.request_context.meta if ctx.request_context else None
    _seen["meta"] = dict(meta) if meta else {}
    _seen["authorization"] = get_http_headers(include={"authorization"}).get("authorization")
    return "noted"


@server.tool
async def slow(seconds: float) -> str:
    """Answers after ``seconds``."""
    await asyncio.sleep(seconds)
    return "done"


@server.tool
def fails() -> str:
    """Always fails (an isError result)."""
    raise ToolError("the sensor is offline")


@server.tool
def admin_reset() -> str:
    """A tool the operator declares no scopes for: never served."""
    return "reset"


@server.resource("weather://stations/{station}")
def station(station: str) -> str:
    """A station's description."""
    if station == "broken":
        raise ResourceError("the station is offline")
    return f"station {station}"


@server.resource("weather://caller", mime_type="application/json")
def caller() -> dict[str, Any]:
    """The caller the host forwarded in the read's _meta."""
    meta = get_context().request_context.meta  # type: ignore[union-attr]
    return dict(meta or {}).get("plughost/caller") or {}


@server.resource("weather://radar.png", mime_type="image/png")
def radar() -> bytes:
    """A radar image (binary)."""
    return b"\x89PNG-radar"


@server.tool
def toggle_extra() -> bool:
    """Add the resource weather://extra and the tool ``extra``, or remove them when they are
    there; True when added."""
    if _extra:
        server.local_provider.remove_resource("weather://extra")
        server.local_provider.remove_tool("extra")
        _extra.clear()
    else:
        server.add_resource(Resource.from_function(lambda: "extra", uri="weather://extra"))
        server.add_tool(Tool.from_function(lambda: "extra", name="extra"))
        _extra.append(True)
    return bool(_extra)


_extra: list[bool] = []


@server.completion
def complete(ref: Any, argument: Any, context: Any = None) -> list[str]:
    """Cities for a prompt's ``city`` and a template's ``station``."""
    if argument.name in ("city", "station"):
        return [c for c in CITIES if c.lower().startswith(argument.value.lower())]
    return []


@server.resource("file:///notes/today.txt")
def today() -> str:
    return "sunny all day"


@server.prompt
def brief(city: str) -> str:
    """Ask for a weather brief."""
    return f"Write a weather brief for {city}."


@server.prompt(name="forecast")
def forecast_prompt(city: str) -> str:
    """A prompt named as a tool is (the host serves the tool, not both)."""
    return f"Forecast {city}."


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    else:
        server.run("stdio", show_banner=False)
