"""A tool's rich results (`plughost.content`) as MCP content blocks.

What a tool declares it returns decides its output schema before any call, so the declaration
is read once, when the tool is built (`ResultShape.of`): ``-> Image`` and the other blocks,
and ``-> Content``, have no output schema; ``-> Content[Forecast]`` has ``Forecast``'s, and its
structured part is converted exactly as a tool returning ``Forecast`` would be. Any other way
of naming content in a return type (``list[Image]``, ``Image | None``) is refused at load, so
there is one way to say each thing. A value that does not match its declaration is the tool's
bug, raised here and answered as one by the adapter.
"""

from __future__ import annotations

import base64
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import pydantic_core
from fastmcp.tools.base import ToolResult
from mcp import types as mcp

from plughost.sdk.content import (
    BLOCK_TYPES,
    Audio,
    Block,
    Content,
    EmbeddedResource,
    Image,
    ResourceLink,
)
from plughost.sdk.elicitation import Ask

Convert = Callable[[Any], ToolResult]
#: The types that are content, as a return annotation may name them.
_CONTENT_TYPES = (Content, Image, Audio, EmbeddedResource, ResourceLink)


@dataclass(frozen=True)
class ResultShape:
    """What a tool declared it returns, as far as content goes.

    ``content``: it returns content (a block or a `Content`); ``structured``: its `Content`
    carries structured output of a declared type; ``declared``: it named a return type at all
    (an undeclared tool may return anything, content included).
    """

    content: bool = False
    structured: bool = False
    declared: bool = True

    @classmethod
    def of(cls, annotation: Any, tool: str) -> tuple[ResultShape, Any]:
        """The shape of a return annotation, and the annotation FastMCP is to see instead
        (the structured part's type, or none: content blocks have no output schema)."""
        empty = inspect.Signature.empty
        annotation = _without_ask(annotation)
        if annotation is empty or annotation is Any:
            return cls(declared=False), annotation
        if typing.get_origin(annotation) is Content:
            (structured,) = typing.get_args(annotation)
            return cls(content=True, structured=True), structured
        if annotation in _CONTENT_TYPES:
            return cls(content=True), empty
        if _names_content(annotation):
            shown = inspect.formatannotation(annotation).replace("plughost.sdk.content.", "")
            raise TypeError(
                f"tool {tool!r} returns {shown}: return one block (-> Image) or a Content "
                "of several (-> Content, or -> Content[Model] with structured output)"
            )
        return cls(), annotation

    def convert(self, value: Any, convert: Convert) -> ToolResult:
        """The tool's value as a result; ``convert`` is the served tool's own (FastMCP's)."""
        is_content = isinstance(value, _CONTENT_TYPES)
        if self.declared and is_content != self.content:
            said = "content" if self.content else "a value"
            raise TypeError(f"the tool declares {said} but returned {type(value).__name__}")
        if not is_content:
            return convert(value)
        result = value if isinstance(value, Content) else Content([value])
        blocks = [to_block(block) for block in result.blocks]
        if not self.structured:
            if result.structured is not None:
                raise TypeError("structured output needs its type declared: -> Content[Model]")
            return ToolResult(content=blocks)
        if result.structured is None:
            raise TypeError("a tool declaring -> Content[Model] returns Content(structured=...)")
        part = convert(result.structured)
        return ToolResult(
            content=[*blocks, *part.content],
            structured_content=part.structured_content,
            meta=part.meta,
        )


def check_result_type(fn: Callable[..., Any], tool: str) -> None:
    """Refuse, at load, a return type that names content in a way `ResultShape` does not
    take, so the plugin fails to load on its own instead of stopping the host later."""
    hints = typing.get_type_hints(fn, include_extras=True)
    ResultShape.of(hints.get("return", inspect.Signature.empty), tool)


def _without_ask(annotation: Any) -> Any:
    """``Change | Ask`` as ``Change``: a question ends a round, it is never the result."""
    if annotation is Ask:
        return inspect.Signature.empty
    if typing.get_origin(annotation) not in (Union, types.UnionType):
        return annotation
    rest = tuple(arg for arg in typing.get_args(annotation) if arg is not Ask)
    return Union[rest] if rest else inspect.Signature.empty  # noqa: UP007 (a tuple of types)


def _names_content(annotation: Any) -> bool:
    """Whether a content type appears anywhere in ``annotation`` (``list[Image]``...)."""
    if annotation in _CONTENT_TYPES or typing.get_origin(annotation) is Content:
        return True
    return any(_names_content(arg) for arg in typing.get_args(annotation))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def to_block(block: Block) -> mcp.ContentBlock:
    """One SDK block as its MCP content block, bytes base64-encoded."""
    if isinstance(block, str):
        return mcp.TextContent(type="text", text=block)
    if isinstance(block, Image):
        return mcp.ImageContent(type="image", data=_b64(block.data), mime_type=block.mime_type)
    if isinstance(block, Audio):
        return mcp.AudioContent(type="audio", data=_b64(block.data), mime_type=block.mime_type)
    if isinstance(block, EmbeddedResource):
        return mcp.EmbeddedResource(type="resource", resource=_contents(block))
    if isinstance(block, ResourceLink):
        return mcp.ResourceLink(
            type="resource_link",
            uri=block.uri,
            name=block.name,
            mime_type=block.mime_type,
            description=block.description,
        )
    raise TypeError(f"not a content block: {type(block).__name__} (one of {BLOCK_TYPES})")


def _contents(
    block: EmbeddedResource,
) -> mcp.TextResourceContents | mcp.BlobResourceContents:
    if isinstance(block.content, str):
        return mcp.TextResourceContents(
            uri=block.uri, mime_type=block.mime_type, text=block.content
        )
    return mcp.BlobResourceContents(
        uri=block.uri, mime_type=block.mime_type, blob=_b64(block.content)
    )


def result_size(result: ToolResult) -> int:
    """The bytes a result puts on the wire, near enough: every block's text, data (as base64)
    and URIs, and the structured content.

    Structured content is usually also in the text as JSON, and a response carries both.
    """
    size = len(pydantic_core.to_json(result.structured_content)) if result.structured_content else 0
    for block in result.content:
        if isinstance(block, mcp.TextContent):
            size += len(block.text.encode())
        elif isinstance(block, mcp.ImageContent | mcp.AudioContent):
            size += len(block.data)
        elif isinstance(block, mcp.EmbeddedResource):
            res = block.resource
            data = res.text if isinstance(res, mcp.TextResourceContents) else res.blob
            size += len(data.encode()) + len(res.uri.encode())
        elif isinstance(block, mcp.ResourceLink):
            link = f"{block.uri}{block.name}{block.description or ''}"
            size += len(link.encode())
    return size
