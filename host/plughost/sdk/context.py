"""What a plugin's code is handed: the caller of a tool, and the plugin's own runtime."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from plughost.sdk.errors import InsufficientScope
from plughost.sdk.tables import TenantStorage


class Caller(BaseModel):
    """The verified identity behind a tool call. Never holds the token itself."""

    model_config = ConfigDict(frozen=True)

    subject: str = Field(description="Who the token was issued to (`sub`).")
    client_id: str | None = Field(None, description="The OAuth client (`client_id` or `azp`).")
    tenant_id: str = Field(
        description="The organisation the call acts for; data is kept per tenant."
    )
    scopes: frozenset[str] = Field(default_factory=frozenset, description="Scopes granted.")
    claims: dict[str, Any] = Field(
        default_factory=dict, description="Other token claims the operator chose to pass on."
    )

    def has_scopes(self, *scopes: str) -> bool:
        """True when every named scope was granted."""
        return set(scopes) <= self.scopes


@dataclass(frozen=True)
class PluginRuntime:
    """A loaded plugin's share of the host, given to its start-up and shutdown hooks.

    ``data_dir`` is a directory of the plugin's own on this replica (for caches and working
    copies, never for data that must survive the replica: use the database). ``state`` is a
    per-process dict the start-up hook can fill (clients, locks) and tools read back through
    `ToolContext.state`.
    """

    namespace: str
    version: str
    settings: BaseModel | None
    engine: Engine
    logger: logging.Logger
    data_dir: Path
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool needs besides its arguments, passed as its first parameter.

    ``storage`` is already narrowed to ``caller.tenant_id``; ``settings`` is the plugin's own
    validated settings model (None when the plugin has none); ``state`` and ``data_dir`` are
    the ones its `PluginRuntime` has.
    """

    caller: Caller
    settings: Any
    storage: TenantStorage
    logger: logging.Logger
    plugin: str
    plugin_version: str
    data_dir: Path
    state: dict[str, Any]

    def require_scopes(self, *scopes: str, reason: str | None = None) -> None:
        """Refuse the call with HTTP 403 unless the caller holds every scope named.

        For scopes that depend on the arguments; ``reason`` tells the agent why they are needed.
        """
        missing = [scope for scope in scopes if scope not in self.caller.scopes]
        if missing:
            raise InsufficientScope(missing, reason)
