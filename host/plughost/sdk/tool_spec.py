"""`ToolSpec`: a tool as a plugin declares it, what `Plugin.tool` records and the host reads;
`Declared`, what it has in common with resources and prompts.

A module of its own so that the hook specifications can name it without importing `Plugin`,
which implements them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Declared:
    """What every declaration (tool, resource, prompt) has: the function, the scopes it needs
    (all of them), how agents see it, and its deadline (seconds; None: the host's)."""

    fn: Callable[..., Any]
    scopes: tuple[str, ...]
    title: str | None = None
    description: str | None = None
    timeout: float | None = None


@dataclass(frozen=True, kw_only=True)
class ToolSpec(Declared):
    """A tool as a plugin declares it; the host turns it into ``<namespace>_<name>``.

    ``fn`` takes a `ToolContext` first, then the tool's arguments, typed. It may be sync (run in
    a worker thread) or async. Its docstring's first paragraph becomes the description and its
    ``Args:`` section the argument descriptions, unless ``description`` is given.
    """

    name: str
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None
    conditional_scopes: Mapping[str, str] = field(default_factory=dict)
