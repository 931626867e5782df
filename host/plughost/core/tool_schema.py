"""What agents read about a tool before calling it: its behaviour hints and output schema.

The behaviour hints are all stated, with defaults that fit a plugin's tools (`tool_hints`), and
the output schema admits the tool's error results (`admit_errors`), so strict clients that
validate ``structuredContent`` against ``outputSchema`` accept errors too.
"""

from __future__ import annotations

from typing import Any

from plughost.sdk.tool_spec import ToolSpec

#: The error object every error result carries in ``structuredContent.error``.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Present instead of the result when the call failed (isError is true).",
    "properties": {
        "code": {"type": "string", "description": "A stable label: not_found, invalid_input…"},
        "message": {"type": "string", "description": "What was wrong and how to fix it."},
        "details": {"type": "object", "description": "Facts to act on (ids, versions, fields)."},
    },
    "required": ["code", "message"],
}
#: Schema keywords that make a schema more than one plain object shape.
_COMPOSED = ("$ref", "anyOf", "oneOf", "allOf", "not", "if")


def tool_hints(spec: ToolSpec) -> dict[str, bool]:
    """The four MCP behaviour hints, every one stated, with defaults that fit plugin tools.

    The MCP spec's defaults for an unset hint assume the worst (destructive, open-world), so a
    plain "create" would look to agents like a delete reaching out to the internet. A plugin's
    tools work on its organisation's data through the host, so a tool is: read-only only if it
    says so; never destructive when read-only (the spec ignores the hint then), otherwise only
    if it says ``destructive=True``; idempotent when read-only or when it says so; and
    closed-world unless it says ``open_world=True`` (it reaches the web, arbitrary URLs).
    """
    read_only = bool(spec.read_only)
    return {
        "readOnlyHint": read_only,
        "destructiveHint": not read_only and bool(spec.destructive),
        "idempotentHint": read_only or bool(spec.idempotent),
        "openWorldHint": bool(spec.open_world),
    }


#: How people are shown each MCP behaviour hint a tool has (closed-world otherwise).
HINT_LABELS = {
    "readOnlyHint": "read-only",
    "destructiveHint": "destructive",
    "idempotentHint": "idempotent",
    "openWorldHint": "open-world",
}


def hint_labels(annotations: dict[str, bool]) -> list[str]:
    """The hints a tool has, in words (`plughost plugins` and the console show these)."""
    labels = [label for key, label in HINT_LABELS.items() if annotations.get(key)]
    if not annotations.get("openWorldHint"):
        labels.append("closed-world")
    return labels


def admit_errors(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The tool's output schema, widened so its error results validate against it too.

    The spec says structured content conforms to the output schema and clients should check;
    strict clients do so for errors as well. For a plain object schema the error becomes one
    more property and the required fields become "these, or ``error``"; any other schema
    becomes "this, or an object holding ``error``". ``$defs`` and FastMCP's ``x-`` flags stay
    at the root, where references and result unwrapping look for them.
    """
    if schema is None:
        return None
    properties = schema.get("properties") or {}
    if (
        schema.get("type") == "object"
        and "error" not in properties
        and not any(key in schema for key in _COMPOSED)
    ):
        widened = {**schema, "properties": {**properties, "error": ERROR_SCHEMA}}
        required = widened.pop("required", None)
        if required:
            widened["anyOf"] = [{"required": required}, {"required": ["error"]}]
        return widened
    kept = {k: v for k, v in schema.items() if k in ("$defs", "definitions") or k.startswith("x-")}
    shape = {k: v for k, v in schema.items() if k not in kept}
    envelope = {"type": "object", "properties": {"error": ERROR_SCHEMA}, "required": ["error"]}
    return {"type": "object", "anyOf": [shape, envelope], **kept}
