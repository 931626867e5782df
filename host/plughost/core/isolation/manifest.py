"""What a worker tells its host about the one plugin it serves, before the host serves it.

The host never imports an isolated plugin (it may live in another virtualenv, and its import
may crash), so it learns the plugin from its worker: the load record (scopes with their
descriptions, baseline scopes, each tool's scopes, conditional scopes and hints, resources and
prompts with theirs, the version, or why it failed to load), every target as MCP describes it
(schemas included), each target's deadline, and whether it declares guardrail hooks.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from plughost.core.discovery import PluginRecord


class WorkerManifest(BaseModel):
    """One isolated plugin, as its worker loaded it."""

    record: PluginRecord
    guardrails: bool = Field(False, description="Whether it declares before/after-call hooks.")
    tools: list[dict[str, Any]] = Field(default_factory=list, description="MCP `Tool`s.")
    resources: list[dict[str, Any]] = Field(default_factory=list)
    templates: list[dict[str, Any]] = Field(default_factory=list)
    prompts: list[dict[str, Any]] = Field(default_factory=list)
    #: Each target's deadline in seconds, by its public name (a resource's by its URI).
    timeouts: dict[str, float] = Field(default_factory=dict)
