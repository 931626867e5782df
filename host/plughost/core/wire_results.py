"""A tool's `ToolResult` as the `CallToolResult` the MCP wire carries, as the SDK's handler
makes it: structured content that is not a JSON object (a declared ``list`` or ``str``) is
wrapped as ``{"result": ...}``, as every handshake-era client expects. The host's fast path
and an isolated plugin's worker answer with it, so both answer exactly as FastMCP would.
`wire_dump` is that result as JSON, the form both send it in.
"""

from __future__ import annotations

from typing import Any

from fastmcp.tools.base import RawStructuredToolResult, ToolResult
from mcp.types import CallToolResult, TextContent


def wire_result(result: ToolResult) -> CallToolResult:
    """``result`` as a `CallToolResult`, non-object structured content wrapped."""
    if isinstance(result, RawStructuredToolResult) or (
        result.structured_content is not None and not isinstance(result.structured_content, dict)
    ):
        result = _wrapped(result)
    return _as_call_tool_result(result.to_mcp_result())


def wire_dump(result: ToolResult) -> dict[str, Any]:
    """``wire_result(result)`` as the wire's JSON object (by alias, no nulls). A plain result
    (its structured content an object, no protocol result behind it) is dumped as it stands,
    without building the `CallToolResult` only to dump it (four times the work, for a quick
    call's result). The protocol version's shape is taken from this object after
    (`serialize_server_result`), so keys the wire model adds (its defaults) make no difference
    to what is sent."""
    structured = result.structured_content
    if (
        type(result) is not ToolResult
        or getattr(result, "_raw_mcp_result", None) is not None
        or not (structured is None or isinstance(structured, dict))
    ):
        return dump(wire_result(result))
    dumped: dict[str, Any] = {
        "content": [
            block.model_dump(by_alias=True, mode="json", exclude_none=True)
            for block in result.content
        ],
        "isError": result.is_error,
    }
    if structured is not None:
        dumped["structuredContent"] = structured
    if result.meta is not None:
        dumped["_meta"] = result.meta
    return dumped


def dump(result: CallToolResult) -> dict[str, Any]:
    """A `CallToolResult` as the wire's JSON object, as the SDK dumps it."""
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


def error_call_result(text: str) -> CallToolResult:
    """A plain error result (an unknown tool, a FastMCP error), as FastMCP words them."""
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _wrapped(result: ToolResult) -> ToolResult:
    meta = dict(result.meta or {})
    fastmcp_meta = meta.get("fastmcp")
    if isinstance(fastmcp_meta, dict) and fastmcp_meta.get("wrap_result") is True:
        return result
    meta["fastmcp"] = {
        **(fastmcp_meta if isinstance(fastmcp_meta, dict) else {}),
        "wrap_result": True,
    }
    return ToolResult(
        content=result.content,
        structured_content={"result": result.structured_content},
        meta=meta,
        is_error=result.is_error,
    )


def _as_call_tool_result(result: Any) -> CallToolResult:
    """`ToolResult.to_mcp_result` returns a result, a content list or (content, structured)."""
    if isinstance(result, CallToolResult):
        return result
    if isinstance(result, tuple):
        content, structured = result
        return CallToolResult(content=content, structured_content=structured)
    return CallToolResult(content=result)
