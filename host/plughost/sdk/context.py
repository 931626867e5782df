"""What a plugin's code is handed: the caller of a tool, and the plugin's own runtime."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol

from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from typing_extensions import TypeVar

from plughost.sdk.credentials import DownstreamToken, TokenSource
from plughost.sdk.elicitation import (
    CLIENT_CANNOT_SAMPLE,
    Answer,
    Ask,
    InputUnavailable,
    Rounds,
    Sampler,
    SamplingUnavailable,
    make_ask,
)
from plughost.sdk.errors import InsufficientScope, TokenExchangeRefused, UndeclaredScope
from plughost.sdk.pagination import Pages
from plughost.sdk.tables import TenantStorage

#: The MCP (RFC 5424) log levels, least severe first.
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


class Updates(Protocol):
    """Where a running call's progress and log messages go (the host's, per call)."""

    def progress(self, done: float, total: float | None, message: str | None) -> None: ...

    def log(self, level: str, data: Any) -> None: ...


#: The plugin's settings model: ``ToolContext[NotesSettings]`` types ``ctx.settings`` (and
#: ``PluginRuntime[NotesSettings]`` ``runtime.settings``). Left out, it is ``Any``, as before.
SettingsT = TypeVar("SettingsT", default=Any)


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
class PluginRuntime(Generic[SettingsT]):
    """A loaded plugin's share of the host, given to its start-up and shutdown hooks.

    ``data_dir`` is a directory of the plugin's own on this replica (for caches and working
    copies, never for data that must survive the replica: use the database). ``state`` is a
    per-process dict the start-up hook can fill (clients, locks) and tools read back through
    `ToolContext.state`. ``settings`` is the plugin's validated settings model (None when it
    has none); annotate the hook's parameter ``PluginRuntime[MySettings]`` to have it typed.
    """

    namespace: str
    version: str
    settings: SettingsT
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

        A scope the plugin never declared, or one this tool does not list in
        ``conditional_scopes`` (or ``scopes``), raises `UndeclaredScope`: no agent could have
        known to ask for it.
        """
        undeclared = [s for s in scopes if s not in self.plugin_scopes]
        if undeclared:
            raise UndeclaredScope(self.name, undeclared)
        unlisted = [s for s in scopes if s not in self.scopes and s not in self.conditional_scopes]
        if unlisted:
            raise UndeclaredScope(self.name, unlisted, plugin_declares=True)


@dataclass(frozen=True)
class ToolContext(Generic[SettingsT]):
    """Everything a tool needs besides its arguments, passed as its first parameter.

    ``storage`` is already narrowed to ``caller.tenant_id``; ``settings`` is the plugin's own
    validated settings model (None when the plugin has none): annotate the parameter
    ``ctx: ToolContext[MySettings]`` and type checkers know its fields; ``state`` and
    ``data_dir`` are the ones its `PluginRuntime` has; ``tool`` is the tool being called and
    ``pages`` makes and reads its pagination cursors; ``tokens`` gets downstream tokens (use
    `token_for`).
    ``tracer`` is the call's OpenTelemetry tracer, None when the call is not traced: use it
    through `span`. ``rounds`` is what the host knows of the call's earlier rounds: use it
    through `can_ask`, `answer`, `ask` and `remembered`; ``sampler`` reaches the client's
    model: use it through `can_sample` and `sample`.
    """

    caller: Caller
    settings: SettingsT
    storage: TenantStorage
    logger: logging.Logger
    plugin: str
    plugin_version: str
    data_dir: Path
    state: dict[str, Any]
    tool: CalledTool
    pages: Pages
    tokens: TokenSource | None = field(default=None, repr=False)
    tracer: Tracer | None = None
    updates: Updates | None = field(default=None, repr=False)
    rounds: Rounds | None = field(default=None, repr=False)
    sampler: Sampler | None = field(default=None, repr=False)

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Tell the client how far the call is (``done`` of ``total``, which may be unknown).

        Sent as a progress notification on the call's response stream when the client asked
        for progress (a ``progressToken``) and reads ``text/event-stream``; otherwise nothing
        happens. Never blocks: when the client reads slower than the tool reports, the
        surplus is dropped. Keep ``done`` increasing.
        """
        if self.updates is not None:
            self.updates.progress(float(done), None if total is None else float(total), message)

    def log(self, message: str, *, level: str = "info", **data: Any) -> None:
        """Tell the client something while the call runs (an MCP log message).

        ``level`` is one of ``debug``, ``info``, ``notice``, ``warning``, ``error``,
        ``critical``, ``alert``, ``emergency``; ``data`` must be JSON-serialisable. Delivered
        like `progress`, never blocking. For the operator's log, use ``logger``.
        """
        if level not in LOG_LEVELS:
            raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
        if self.updates is not None:
            self.updates.log(level, {"message": message, **data} if data else message)

    @property
    def can_ask(self) -> bool:
        """Whether this call's client can answer a question (`ask`): MCP 2026-07-28 with
        elicitation, or 2025-06-18/2025-11-25 reading the event stream and having declared
        elicitation. When False, offer an argument instead (``confirm: bool = False``)."""
        return self.rounds is not None and self.rounds.can_ask

    @property
    def remembered(self) -> Mapping[str, Any]:
        """What the tool passed as ``remember`` when it last asked (empty in the first round).

        Sealed by the host, so the client can neither read nor change it."""
        return {} if self.rounds is None else self.rounds.remembered

    def answer(self, key: str, model: type[BaseModel] | None = None) -> Answer | None:
        """The user's answer to the question ``key``, or None when it has not been asked yet.

        The function runs from the top in every round, so call this before `ask`: None means
        ask now. Accepted content is validated by ``model`` (the one given to `ask`), else it
        is a dict; content that does not fit raises `InvalidInput`. Answers from earlier
        rounds stay readable in later ones; only questions this tool asked are answered.
        """
        return None if self.rounds is None else self.rounds.answer(key, model)

    def ask(
        self,
        key: str,
        message: str,
        schema: type[BaseModel] | Mapping[str, Any] | None = None,
        *,
        remember: Mapping[str, Any] | None = None,
        fallback: str | None = None,
    ) -> Ask:
        """A question for the user: return it, and this round of the call ends with it.

        ``schema`` is the form (a pydantic model of flat fields, or a JSON Schema object);
        without one the user accepts or declines. ``remember`` (small JSON) comes back as
        `remembered` in the next round. When the client cannot answer (`can_ask` is False)
        this raises `InputUnavailable`, whose message is ``fallback`` (how to proceed
        without asking, such as "call again with confirm=true once the user agreed").
        """
        if not self.can_ask:
            raise InputUnavailable(
                fallback
                or f"{self.tool.name} needs an answer from the user, and this client "
                "cannot ask (it needs elicitation, and MCP 2026-07-28 or an event stream)",
                question=key,
            )
        return make_ask(key, message, schema, remember)

    @property
    def can_sample(self) -> bool:
        """Whether `sample` can reach the client's model: the client speaks MCP 2025-03-26,
        2025-06-18 or 2025-11-25, reads the event stream, and declared sampling at
        ``initialize``."""
        return self.sampler is not None and self.sampler.can_sample

    async def sample(self, prompt: str, *, max_tokens: int = 512, system: str | None = None) -> str:
        """The client's model's text reply to ``prompt`` (MCP sampling), awaited mid-call.

        The client may show the request to its user first, so the wait counts against the
        call's deadline and the host's ask timeout (then `Unanswered`). ``system`` is the
        system prompt; ``max_tokens`` bounds the reply. Raises `SamplingUnavailable` when
        `can_sample` is False (fall back, or explain), and `SamplingFailed` when the client
        declines or errs. Async tools only; at most 10 requests to the client per call.
        """
        if not prompt.strip():
            raise ValueError("a sampling request needs a prompt")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, not {max_tokens}")
        if self.sampler is None or not self.sampler.can_sample:
            why = CLIENT_CANNOT_SAMPLE if self.sampler is None else self.sampler.cannot_sample
            raise SamplingUnavailable(f"{self.tool.name} asks the client's model, and {why}")
        return await self.sampler.sample(prompt, max_tokens, system)

    def require_scopes(self, *scopes: str, reason: str | None = None) -> None:
        """Refuse the call with HTTP 403 unless the caller holds every scope named.

        For scopes that depend on the arguments; ``reason`` tells the agent why they are needed.
        Each scope must be in the tool's ``conditional_scopes`` (see `CalledTool.vet`).
        """
        self.tool.vet(*scopes)
        missing = [scope for scope in scopes if scope not in self.caller.scopes]
        if missing:
            raise InsufficientScope(missing, reason)

    async def token_for(self, audience: str, scopes: Sequence[str] = ()) -> DownstreamToken:
        """A token for another internal API (``audience``), acting as the caller.

        The host exchanges the caller's token at the issuer (RFC 8693) for one meant for
        ``audience`` with ``scopes``, within what the operator allowed this plugin, and
        caches it until shortly before it expires. Raises `TokenExchangeRefused`,
        `TokenExchangeDenied` or `TokenExchangeUnavailable`.
        """
        if self.tokens is None:
            raise TokenExchangeRefused(
                "token exchange is not available to this call", plugin=self.plugin
            )
        return await self.tokens.token_for(audience, list(scopes))

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
        with child_span(self.tracer, name, attributes) as span:
            yield span


@contextmanager
def child_span(
    tracer: Tracer, name: str, attributes: Mapping[str, AttributeValue] | None
) -> Iterator[Span]:
    """A span under the current one; an exception marks it failed by the error's type only
    (its message may quote what the caller sent). The host's own steps are traced this way too."""
    with tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            raise
