"""A plugin whose tool ends the server process it runs in (tests/test_serve_supervision.py)."""

import os

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"exits:use": "End the server process"})


@plugin.tool(scopes=["exits:use"])
def quit(ctx: ToolContext, code: int) -> str:
    "End this server process at once with exit code ``code``, as a crashing library would."
    os._exit(code)


@plugin.tool(scopes=["exits:use"])
def pid(ctx: ToolContext) -> int:
    "The server process that answered."
    return os.getpid()
