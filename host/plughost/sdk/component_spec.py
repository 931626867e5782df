"""`ResourceSpec` and `PromptSpec`: what `Plugin.resource` and `Plugin.prompt` record.

A module of its own, like `ToolSpec`'s, so the hook specifications can name them without
importing `Plugin`. The host turns each into an MCP resource, resource template or prompt
under the plugin's namespace, behind the same scopes, limits, guardrails and audit as a tool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from plughost.sdk.tool_spec import Declared

#: A completer: ``fn(ctx, value)`` returns the values an argument may take that start with
#: what the user typed so far (sync or async; at most 100 are sent).
Completer = Callable[..., Any]


@dataclass(frozen=True, kw_only=True)
class ResourceSpec(Declared):
    """A resource (or, with ``{parameters}`` in its path, a resource template).

    Its URI is ``<namespace>://<path>``: two plugins can never serve the same one. ``fn`` takes a
    `ToolContext` first, then the template's parameters by name (all strings), and returns text
    (``str``), bytes (sent as a blob) or anything JSON-serialisable (sent as JSON text).
    """

    path: str
    name: str | None = None
    mime_type: str | None = None
    complete: Mapping[str, Completer] = field(default_factory=dict)

    @property
    def is_template(self) -> bool:
        return "{" in self.path


@dataclass(frozen=True, kw_only=True)
class PromptSpec(Declared):
    """A prompt agents list and fill in: ``<namespace>_<name>``.

    ``fn`` takes a `ToolContext` first, then the prompt's arguments (typed; optional ones have
    defaults), and returns a ``str`` (one user message) or a list of messages
    (`plughost.content.Message`, or ``str`` for a user message).
    """

    name: str
    complete: Mapping[str, Completer] = field(default_factory=dict)
