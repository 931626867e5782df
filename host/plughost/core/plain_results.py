"""A tool's plain value (text, a number, a JSON object or list, a model) as its `ToolResult`,
by FastMCP's rules in one pass.

FastMCP's `Tool.convert_result` serialises a value through the tool's return type and parses
the JSON back; then `ToolResult`'s constructor serialises and parses the structured part a
second time and validates the blocks it was just given. For the values most tools return that
second pass changes nothing (JSON parsed from JSON is itself), and it was the largest single
cost of a quick call after the transport (bench/RESULTS.md). So a plain value is converted here
once, with the same serializer, the same content text and the same wrapping; anything FastMCP
treats specially (content blocks, its own results, Prefab UI, bytes, a value whose
serialisation fails or carries NaN, structured output its schema cannot hold) goes to FastMCP's
own `convert_result`, which words its errors. `tests/test_plain_results.py` holds the two to
the same answer over a corpus of return types and values.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

import pydantic_core
from fastmcp.tools import Tool
from fastmcp.tools.base import ToolResult, default_serializer
from fastmcp.utilities.prefab import is_prefab_app, is_prefab_component
from fastmcp.utilities.types import Audio, File, Image
from mcp.types import CallToolResult, ContentBlock, TextContent
from pydantic import BaseModel, PydanticSchemaGenerationError, TypeAdapter

from plughost.core.rich_results import Convert

#: Values that are data by their type alone.
_SCALARS = (str, int, float, bool, type(None), dict)
#: The models `Tool.convert_result` treats as something other than data.
_SPECIAL_MODELS = (ToolResult, CallToolResult, ContentBlock)
#: What `Tool.convert_result` takes for content, alone or as an item of a list.
_CONTENT = (ContentBlock, Audio, Image, File)
_WRAPPED_META = {"fastmcp": {"wrap_result": True}}


@dataclass(frozen=True)
class PlainResults:
    """Converts a served tool's plain values; ``fallback`` is the tool's own `convert_result`."""

    serializer: pydantic_core.SchemaSerializer | None
    output_schema: dict[str, Any] | None
    fallback: Convert

    @classmethod
    def of(cls, tool: Tool) -> PlainResults:
        """The converter for ``tool`` as it is served (its return type and output schema).
        A return type pydantic cannot serialise leaves every value to FastMCP, which fails
        the call (not the plugin's load) as it always has."""
        try:
            serializer = _serializer(tool.return_type)
        except Exception:
            serializer = None
        return cls(serializer, tool.output_schema, tool.convert_result)

    def __call__(self, value: Any) -> ToolResult:
        if self.serializer is None or not _plain(value):
            return self.fallback(value)
        try:
            payload = self.serializer.to_json(value)
        except Exception:  # FastMCP decides: an error for its schema, or content only
            return self.fallback(value)
        if b"NaN" in payload or b"Infinity" in payload:
            return self.fallback(value)  # refused by FastMCP, in its words
        structured = json.loads(payload.decode("utf-8", "surrogatepass"))
        content = _content(structured)
        schema = self.output_schema
        if schema is None:
            if not isinstance(structured, dict):
                structured = None
            return _result(content, structured, None)
        if schema.get("x-fastmcp-wrap-result"):
            return _result(content, {"result": structured}, dict(_WRAPPED_META))
        if structured is not None and not isinstance(structured, dict):
            return self.fallback(value)  # a schema's object got something else: FastMCP raises
        return _result(content, structured, None)


def _plain(value: Any) -> bool:
    """Whether ``value`` is data to FastMCP: not content, a result, Prefab UI or bytes."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is list or kind is tuple:  # data unless an item is content (FastMCP looks no deeper)
        return not any(isinstance(item, _CONTENT) for item in value)
    return (
        isinstance(value, BaseModel)
        and not isinstance(value, _SPECIAL_MODELS)
        and not is_prefab_app(value)
        and not is_prefab_component(value)
    )


def _serializer(annotation: Any) -> pydantic_core.SchemaSerializer:
    """The JSON serializer FastMCP uses for a return type: the type's own schema, non-finite
    floats kept as tokens (so they can be refused), `Any`'s where the type has none."""
    if (
        annotation is inspect.Signature.empty
        or annotation is None
        or annotation is ...
        or isinstance(annotation, str)
    ):
        annotation = Any
    try:
        schema = TypeAdapter(annotation).core_schema
    except PydanticSchemaGenerationError:
        schema = TypeAdapter(Any).core_schema
    return pydantic_core.SchemaSerializer(schema, config={"ser_json_inf_nan": "constants"})


def _content(structured: Any) -> list[Any]:
    """The text block a JSON value is shown as: a string as itself, anything else as JSON;
    nothing for null or an empty list."""
    if structured is None or structured == []:
        return []
    text = structured if isinstance(structured, str) else default_serializer(structured)
    return [TextContent(type="text", text=text)]


def _result(content: list[Any], structured: Any, meta: dict[str, Any] | None) -> ToolResult:
    """The `ToolResult` FastMCP's constructor would build from these already-converted parts."""
    return ToolResult.model_construct(
        content=content, structured_content=structured, meta=meta, is_error=False
    )
