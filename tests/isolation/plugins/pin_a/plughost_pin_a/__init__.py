"""A plugin that needs pinlib 1 and says which pinlib it sees."""

import pinlib

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"pina:read": "See which pinlib this plugin runs with"})


@plugin.tool(scopes=["pina:read"], read_only=True)
def version(ctx: ToolContext) -> str:
    "The version of pinlib this plugin imported."
    return pinlib.VERSION
