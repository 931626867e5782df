"""Rich tool results: images, audio, embedded resources and resource links, with text.

Most tools return one value (a model, a dict, a string) and the host sends it as structured
content. A tool that shows a chart, plays a recording, hands over a file or points at one
returns these instead: one block on its own (``-> Image``), or several, mixed with text and
with structured output beside them, as a `Content` (``-> Content[Forecast]``). They are plain
values with no MCP types in them, so plugins do not depend on the MCP library's version; the
host turns them into MCP content blocks, base64-encodes the bytes, and counts every block
against the result size limit.

Each type checks what it is given when it is made, so a wrong value fails in the plugin's own
code, with a message saying what to pass, rather than as a malformed answer a client rejects.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Literal, TypeAlias, TypeVar

#: ``type/subtype`` and optional parameters (RFC 6838 names, as MCP clients compare them).
_MIME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;\s*\S.*)?"
)
#: An absolute URI: a scheme (RFC 3986) and something after it, no whitespace.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


def _raw_bytes(owner: str, data: object) -> None:
    if not isinstance(data, bytes):
        raise TypeError(
            f"{owner} data is the raw bytes (the host base64-encodes them), "
            f"not {type(data).__name__}; if you hold base64 text, decode it with base64.b64decode"
        )


def _mime_type(owner: str, mime_type: object, family: str | None = None) -> None:
    if not isinstance(mime_type, str) or not _MIME.fullmatch(mime_type):
        raise ValueError(f"{owner} mime_type {mime_type!r} is not a MIME type like 'image/png'")
    if family is not None and not mime_type.lower().startswith(f"{family}/"):
        raise ValueError(f"{owner} mime_type must be an {family}/... type, not {mime_type!r}")


def _uri(owner: str, uri: object) -> None:
    if not isinstance(uri, str) or not _URI.fullmatch(uri):
        raise ValueError(
            f"{owner} uri {uri!r} is not an absolute URI such as 'notes://items/7' or 'https://...'"
        )


@dataclass(frozen=True)
class _Media:
    """Raw bytes and a MIME type of one family (``_family``), as an image and a sound are;
    checked the same way for both."""

    data: bytes
    mime_type: str
    _family: ClassVar[str]

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _raw_bytes(owner, self.data)
        _mime_type(owner, self.mime_type, self._family)


@dataclass(frozen=True)
class Image(_Media):
    """An image: its bytes and MIME type (``image/png``, ``image/jpeg``...), both required
    because clients decide from the type how to show it."""

    _family: ClassVar[str] = "image"


@dataclass(frozen=True)
class Audio(_Media):
    """A sound: its bytes and MIME type (``audio/wav``, ``audio/mpeg``...), both required."""

    _family: ClassVar[str] = "audio"


@dataclass(frozen=True)
class EmbeddedResource:
    """A resource sent inside the result: its URI and its contents, text (``str``) or binary
    (``bytes``), with a MIME type when there is one to give.

    Embed what the agent should read now (a generated report, a file's text); link to what it
    may fetch later with a `ResourceLink`.
    """

    uri: str
    content: str | bytes
    mime_type: str | None = None

    def __post_init__(self) -> None:
        _uri("EmbeddedResource", self.uri)
        if not isinstance(self.content, str | bytes):
            raise TypeError(
                "EmbeddedResource content is text (str) or binary data (bytes), "
                f"not {type(self.content).__name__}; json.dumps a dict or list first"
            )
        if self.mime_type is not None:
            _mime_type("EmbeddedResource", self.mime_type)


@dataclass(frozen=True)
class ResourceLink:
    """A pointer to a resource the client may read or open: its URI and a name to show, with
    its MIME type and a description when known. Nothing of the resource is sent."""

    uri: str
    name: str
    mime_type: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        _uri("ResourceLink", self.uri)
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("ResourceLink needs a name to show, such as the file's name")
        if self.mime_type is not None:
            _mime_type("ResourceLink", self.mime_type)


#: One block of a result: text (a ``str``), an image, a sound, a resource or a link to one.
Block: TypeAlias = str | Image | Audio | EmbeddedResource | ResourceLink
#: The block types a result may hold (for isinstance checks; ``str`` is text).
BLOCK_TYPES: tuple[type, ...] = (str, Image, Audio, EmbeddedResource, ResourceLink)

S = TypeVar("S")


@dataclass(frozen=True)
class Content(Generic[S]):
    """A result of several blocks, in order, and optionally structured output beside them.

    Declare the structured part's type as the parameter (``-> Content[Forecast]``): it becomes
    the tool's output schema, and ``structured`` is then required. A tool declared
    ``-> Content`` sends blocks only and has no output schema. The structured part also goes
    to the client as JSON text after the blocks, as MCP asks, for clients that read only text.
    """

    blocks: Sequence[Block]
    structured: S | None = None

    def __post_init__(self) -> None:
        if isinstance(self.blocks, str | bytes) or not isinstance(self.blocks, Sequence):
            raise TypeError(
                "Content takes a list of blocks, e.g. Content(['caption', Image(png, 'image/png')])"
            )
        for index, block in enumerate(self.blocks):
            if not isinstance(block, BLOCK_TYPES):
                raise TypeError(
                    f"Content block {index} is a {type(block).__name__}; a block is text (str), "
                    "Image, Audio, EmbeddedResource or ResourceLink (put data in structured=)"
                )
        object.__setattr__(self, "blocks", tuple(self.blocks))


@dataclass(frozen=True)
class Message:
    """One message of a prompt: ``content`` is text or another block (an image, a resource),
    said by the ``user`` (the default) or the ``assistant``."""

    content: Block
    role: Literal["user", "assistant"] = "user"

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant"):
            raise TypeError(f"a message's role is 'user' or 'assistant', not {self.role!r}")
        if not isinstance(self.content, BLOCK_TYPES):
            raise TypeError(
                f"a message's content is text (str) or a block, not {type(self.content).__name__}"
            )
