"""The rich result SDK: images, audio, embedded resources and resource links a tool returns,
and the messages a prompt returns.

Only tools that send more than one value need these, so they live here rather than in
`plughost`: ``from plughost.content import Content, Image``.
"""

from __future__ import annotations

from plughost.sdk.content import (
    Audio,
    Block,
    Content,
    EmbeddedResource,
    Image,
    Message,
    ResourceLink,
)

__all__ = [
    "Audio",
    "Block",
    "Content",
    "EmbeddedResource",
    "Image",
    "Message",
    "ResourceLink",
]
