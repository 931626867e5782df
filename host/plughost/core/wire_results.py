"""A tool's `ToolResult` as the `CallToolResult` the MCP wire carries, as the SDK's handler
makes it: structured content that is not a JSON object (a declared ``list`` or ``str``) is
wrapped as ``{"result": ...}``, as every handshake-era client expects. The host's fast path
and an isolated plugin's worker answer with it, so both answer exactly as FastMCP would.
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
