"""The tools the MCP conformance suite's server scenarios call, written as any plugin author
would write them: only public SDK names, nothing the host grants test code alone.

Two plugins, because the suite's tool names span two namespaces: ``test`` (``test_*``) and
``json`` (``json_schema_2020_12_tool``). What the suite expects of each scenario, and which
ones the SDK cannot say yet, is in this package's README.
"""

from __future__ import annotations

from pydantic import BaseModel

from plughost import Plugin, ToolContext, ToolError

test_plugin = Plugin(scopes={"test:call": "Call the MCP conformance suite's test tools"})
json_plugin = Plugin(scopes={"json:call": "Call the MCP conformance suite's JSON Schema tool"})

SIMPLE_TEXT = "This is a simple text response for testing."


@test_plugin.tool(scopes=["test:call"], read_only=True)
def simple_text(ctx: ToolContext) -> str:
    """Answer a fixed text (scenario tools-call-simple-text)."""
    return SIMPLE_TEXT


@test_plugin.tool(scopes=["test:call"], read_only=True)
def error_handling(ctx: ToolContext) -> str:
    """Fail on purpose, as a tool error the agent reads (scenario tools-call-error)."""
    raise ToolError("This tool intentionally returns an error for testing", code="test_error")


# Lowercase: the suite looks for `$defs.address`, and pydantic names the entry after the class.
class address(BaseModel):
    """A postal address: a nested model, so the input schema has a `$defs` entry."""

    street: str | None = None
    city: str | None = None


@json_plugin.tool(scopes=["json:call"], read_only=True, name="schema_2020_12_tool")
def schema_2020_12_tool(
    ctx: ToolContext, name: str | None = None, address: address | None = None
) -> dict[str, object]:
    """Echo a name and an address (scenario json-schema-2020-12 reads only the input schema:
    the 2020-12 dialect, ``$defs.address``, and ``additionalProperties: false``)."""
    return {"name": name, "address": address.model_dump() if address else None}
