"""What a plugin's code is handed: the caller of a tool, and the plugin's own runtime."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from plughost.sdk.errors import InsufficientScope, UndeclaredScope
from plughost.sdk.pagination import Pages
from plughost.sdk.tables import TenantStorage

#: The SDK release from which a tool may only ask for the conditional scopes it declares.
CONDITIONAL_SCOPES_ENFORCED_FROM = "0.2"

log = logging.getLogger("plughost.sdk")
_warned: set[tuple[str, str]] = set()


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
class CalledTool:
    """The tool a call is for, with the scopes its plugin declared for it.

    ``scopes`` are needed for every call (the host checked them before the tool ran);
    ``conditional_scopes`` are the ones the tool may additionally ask for with
    `ToolContext.require_scopes`, each with when it is needed; ``plugin_scopes`` is the
    plugin's whole vocabulary.
    """

    name: str
    scopes: tuple[str, ...]
    conditional_scopes: Mapping[str, str]
    plugin_scopes: frozenset[str]

    def vet(self, *scopes: str) -> None:
        """Refuse a scope the tool may not ask for: it is a bug in the plugin, not the caller.

        A scope the plugin never declared raises `UndeclaredScope` (no issuer would grant it,
        so the 403 would send clients after a scope they can never get). A declared scope
        missing from ``conditional_scopes`` still works, with a `DeprecationWarning` once per
        process, until plughost 0.2.
        """
        undeclared = [s for s in scopes if s not in self.plugin_scopes]
        if undeclared:
            raise UndeclaredScope(self.name, undeclared)
        for scope in scopes:
            if scope in self.scopes or scope in self.conditional_scopes:
                continue
            if (self.name, scope) in _warned:
                continue
            _warned.add((self.name, scope))
            message = (
                f"tool {self.name} asks for scope {scope} without declaring it: add "
                f"conditional_scopes={{{scope!r}: 'when ...'}} to its @plugin.tool(...); from "
                f"plughost {CONDITIONAL_SCOPES_ENFORCED_FROM} an undeclared conditional scope "
                "is refused"
            )
            warnings.warn(message, DeprecationWarning, stacklevel=3)
            log.warning("%s", message)


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool needs besides its arguments, passed as its first parameter.

    ``storage`` is already narrowed to ``caller.tenant_id``; ``settings`` is the plugin's own
    validated settings model (None when the plugin has none); ``state`` and ``data_dir`` are
    the ones its `PluginRuntime` has; ``tool`` is the tool being called and ``pages`` makes and
    reads its pagination cursors. ``tracer`` is the call's OpenTelemetry tracer, None when the
    call is not traced: use it through `span`.
    """

    caller: Caller
    settings: Any
    storage: TenantStorage
    logger: logging.Logger
    plugin: str
    plugin_version: str
    data_dir: Path
    state: dict[str, Any]
    tool: CalledTool
    pages: Pages
    tracer: Tracer | None = None

    def require_scopes(self, *scopes: str, reason: str | None = None) -> None:
        """Refuse the call with HTTP 403 unless the caller holds every scope named.

        For scopes that depend on the arguments; ``reason`` tells the agent why they are needed.
        Each scope must be in the tool's ``conditional_scopes`` (see `CalledTool.vet`).
        """
        self.tool.vet(*scopes)
        missing = [scope for scope in scopes if scope not in self.caller.scopes]
        if missing:
            raise InsufficientScope(missing, reason)

    @contextmanager
    def span(
        self, name: str, *, attributes: Mapping[str, AttributeValue] | None = None
    ) -> Iterator[Span]:
        """Trace a piece of the tool's work as a child span of the call's trace.

        ``with ctx.span("fetch invoice", attributes={"crm.source": "erp"}) as span:``. The
        span is named ``name``, nested under the span of the tool's function, and yielded, so
        more attributes can be set on it. When the call is not traced this does nothing (the
        span yielded records nothing). An exception marks the span failed with its type only:
        its message could quote the caller's arguments. Never put a token, a secret or
        argument values in attributes: traces leave the host for the operator's collector.
        """
        if self.tracer is None:
            yield INVALID_SPAN
            return
        with self.tracer.start_as_current_span(
            name, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR))
                raise
