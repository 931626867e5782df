"""Tool input schemas as clients read them in tools/list, over HTTP.

Every tool declares its JSON Schema dialect (2020-12). By default every ``$ref`` is inlined,
because many clients cannot resolve one; ``PLUGHOST_INLINE_SCHEMA_REFS=false`` sends the
``$defs`` the plugin's types produced (what the MCP conformance suite checks). Either way the
arguments are validated against the same model, and repeated listings (the edge's cache)
answer the same final form.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

DIALECT = "https://json-schema.org/draft/2020-12/schema"

SHIPPING = """
from __future__ import annotations

from pydantic import BaseModel

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"ship:write": "Send parcels"})


class address(BaseModel):
    street: str
    city: str


class Part(BaseModel):
    name: str
    parts: list[Part] = []


@plugin.tool(scopes=["ship:write"])
def send(ctx: ToolContext, to: address, note: str | None = None) -> dict:
    "Send a parcel to an address."
    return {"city": to.city, "note": note}


@plugin.tool(scopes=["ship:write"])
def assemble(ctx: ToolContext, part: Part) -> int:
    "Count a part's direct parts."
    return len(part.parts)


@plugin.tool(scopes=["ship:write"], read_only=True)
def ping(ctx: ToolContext) -> str:
    "No arguments at all."
    return "pong"
"""


@pytest.fixture
def shipping(make_dist: Any) -> None:
    make_dist("acme-ship", SHIPPING, namespace="ship")


def schemas(host: Any) -> dict[str, dict[str, Any]]:
    client = host.client(["ship:write"])
    first = {tool["name"]: tool["inputSchema"] for tool in client.list_tools()}
    again = {tool["name"]: tool["inputSchema"] for tool in client.list_tools()}
    assert again == first, "a repeated (cached) tools/list answers the same schemas"
    return first


def refs(schema: Any) -> list[str]:
    """Every ``$ref`` anywhere in a schema."""
    text = json.dumps(schema)
    return [part.split('"')[0] for part in text.split('"$ref": "')[1:]]


def test_every_tool_declares_the_2020_12_dialect_and_refs_are_inlined(plughost_factory, shipping):
    host = plughost_factory(plugins=["ship"], in_process=True)
    listed = schemas(host)
    assert {name: schema["$schema"] for name, schema in listed.items()} == {
        "ship_send": DIALECT,
        "ship_assemble": DIALECT,
        "ship_ping": DIALECT,
    }
    send = listed["ship_send"]
    assert "$defs" not in send and refs(send) == []
    assert send["properties"]["to"]["properties"]["city"] == {"type": "string"}
    assert send["additionalProperties"] is False
    # A recursive type has no inlined form: its $defs stay, so every $ref still resolves.
    assemble = listed["ship_assemble"]
    assert "Part" in assemble["$defs"]
    assert set(refs(assemble)) == {"#/$defs/Part"}


def test_defs_are_kept_when_the_operator_says_so(plughost_factory, shipping):
    host = plughost_factory(
        plugins=["ship"], settings={"inline_schema_refs": False}, in_process=True
    )
    send = schemas(host)["ship_send"]
    assert send["$schema"] == DIALECT
    assert send["$defs"]["address"]["properties"]["city"] == {"type": "string"}
    assert refs(send) == ["#/$defs/address"]
    assert send["additionalProperties"] is False
    client = host.client(["ship:write"])
    sent = client.call("ship_send", to={"street": "1 Main St", "city": "Oslo"})
    assert sent.ok and sent.data == {"city": "Oslo", "note": None}
    assert client.call("ship_send", to={"street": "1 Main St"}).error["code"] == "invalid_input"
    assert (
        client.call("ship_send", to={"street": "x", "city": "y"}, extra=1).error["code"]
        == "invalid_input"
    )
