"""Traces of MCP requests: one SERVER span per request, from the HTTP edge to the plugin.

`TraceEdge` sits right outside the call recorder and opens the request's `CallTrace`. The root
span continues the caller's W3C trace context: the ``traceparent``/``tracestate`` headers, or
else the ones a client put in ``params._meta``. The body is read only after the token is
checked, so the root span is started once its parent is known (when the gate has parsed the
message, or when the answer starts), dated back to the request's arrival; steps that ran
before that (token verification) are recorded as they happen and become its children then.

Child spans come from `step`: token verification, the rate limit, each plugin's guardrail
hook and the plugin's function; plugins open their own through `ToolContext.span`. The root
carries the tool, plugin, plugin version, outcome (the audit record's), tenant, client id and
request id; never the token, never argument values. FastMCP's own spans are suppressed inside
the root: they would be a second SERVER span for the same request, and they record exception
messages, in which pydantic repeats the argument values that failed validation.

With tracing off `TraceEdge` is not installed and `step` costs one context-variable read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, Protocol

from fastmcp.telemetry import suppress_fastmcp_telemetry
from opentelemetry import propagate
from opentelemetry import trace as otel
from opentelemetry.context import Context
from opentelemetry.trace import (
    INVALID_SPAN,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    format_trace_id,
    set_span_in_context,
    use_span,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plughost import __version__
from plughost.ops import logs
from plughost.ops.otel import provider_from_environment
from plughost.sdk.context import child_span

INSTRUMENTATION = "plughost"

#: Span names are made of these methods only: a caller-chosen method would make every
#: request a span name of its own.
MCP_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "notifications/initialized",
        "notifications/cancelled",
    }
)

_NO_STEP: AbstractContextManager[Any] = nullcontext(INVALID_SPAN)

#: Outcomes that are the server's failure, not the caller's: the root span's status is ERROR.
SERVER_FAULTS = frozenset({"internal_error", "unavailable"})


class Tracing:
    """The host's tracer, or None when tracing is off (`from_environment` decides)."""

    def __init__(self, provider: Any = None) -> None:
        self.provider = provider
        self.tracer: Tracer | None = (
            provider.get_tracer(INSTRUMENTATION, __version__) if provider is not None else None
        )

    @classmethod
    def from_environment(cls) -> Tracing:
        """As the ``OTEL_*`` variables say (see `plughost.ops.otel`)."""
        return cls(provider_from_environment())

    @classmethod
    def exporting_to(cls, exporter: Any) -> Tracing:
        """Every span handed to ``exporter`` as it ends (an SDK ``SpanExporter``, such as the
        in-memory one tests read); needs the OpenTelemetry SDK."""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return cls(provider)

    @property
    def on(self) -> bool:
        return self.tracer is not None


class _EarlyStep:
    """A step that ran before the root span could start: timed now, exported at `begin`."""

    def __init__(self, name: str, attributes: Mapping[str, Any] | None) -> None:
        self.name = name
        self.attributes = dict(attributes or {})
        self.start = time.time_ns()
        self.end: int | None = None
        self.error: BaseException | None = None

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def emit(self, tracer: Tracer, parent: Context) -> None:
        span = tracer.start_span(
            self.name, context=parent, start_time=self.start, attributes=self.attributes
        )
        if self.error is not None:
            failed(span, self.error)
        span.end(end_time=self.end or time.time_ns())


class TracedCall(Protocol):
    """What a trace reads of the request's call record (`plughost.core.callrecord`), which
    the recorder attaches: ops sits below core, so it names only what it needs."""

    request_id: str | None
    trace_id: str | None

    def span_attributes(self) -> dict[str, Any]: ...

    def span_name(self) -> str | None: ...


class CallTrace:
    """One request's trace: its root span once started, and the steps before it."""

    def __init__(self, tracer: Tracer, scope: Scope, started: int) -> None:
        self.tracer = tracer
        self.scope = scope
        self.record: TracedCall | None = None
        self.started = started
        self.root: Span | None = None
        self.method: str | None = None
        self.finished = False
        self._early: list[_EarlyStep] = []

    def begin(self, payload: Mapping[str, Any] | None = None) -> Span:
        """Start the root span under the caller's context (headers first, then ``_meta``)."""
        if self.root is not None:
            return self.root
        headers = _headers(self.scope)
        parent = propagate.extract(headers)
        meta = _meta_carrier(payload) if payload else {}
        if meta and not otel.get_current_span(parent).get_span_context().is_valid:
            parent = propagate.extract(meta)
        method = payload.get("method") if payload else None
        self.method = method if method in MCP_METHODS else None
        attributes: dict[str, Any] = {
            "http.request.method": self.scope["method"],
            "url.path": self.scope["path"],
        }
        if self.method:
            attributes["mcp.method.name"] = self.method
        if "mcp-protocol-version" in headers:
            attributes["mcp.protocol.version"] = headers["mcp-protocol-version"][:40]
        if payload and isinstance(payload.get("id"), str | int):
            attributes["jsonrpc.request.id"] = str(payload["id"])[:64]
        if self.record is not None and self.record.request_id:
            attributes["plughost.request_id"] = self.record.request_id
        self.root = self.tracer.start_span(
            self.method or f"{self.scope['method']} {self.scope['path']}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=self.started,
        )
        context = set_span_in_context(self.root)
        for step in self._early:
            step.emit(self.tracer, context)
        self._early.clear()
        trace_id = format_trace_id(self.root.get_span_context().trace_id)
        if self.record is not None:
            self.record.trace_id = trace_id
        logs.trace_id.set(trace_id)
        return self.root

    def step(self, name: str, attributes: Mapping[str, Any] | None) -> AbstractContextManager[Any]:
        if self.root is None:
            return self._early_step(name, attributes)
        return self._live_step(name, attributes)

    @contextmanager
    def _early_step(self, name: str, attributes: Mapping[str, Any] | None) -> Iterator[Any]:
        step = _EarlyStep(name, attributes)
        self._early.append(step)
        try:
            yield step
        except Exception as exc:
            step.error = exc
            raise
        finally:
            step.end = time.time_ns()

    def _live_step(
        self, name: str, attributes: Mapping[str, Any] | None
    ) -> AbstractContextManager[Span]:
        return child_span(self.tracer, name, attributes)

    def finish(self, status: int | None, error: BaseException | None = None) -> None:
        """End the root span with what the call record says of the call (once)."""
        if self.finished:
            return
        self.finished = True
        root = self.begin()
        record = self.record
        attributes: dict[str, Any] = {}
        if status is not None:
            attributes["http.response.status_code"] = status
        if record is not None:
            attributes.update(record.span_attributes())
            name = record.span_name()
            if name is not None:
                root.update_name(name)
        if error is not None:
            attributes["plughost.outcome"] = "internal_error"
            failed(root, error)
        elif (status or 0) >= 500 or attributes.get("plughost.outcome") in SERVER_FAULTS:
            root.set_status(Status(StatusCode.ERROR))
        root.set_attributes(attributes)
        root.end()


def failed(span: Span, error: BaseException) -> None:
    """Mark a span failed by the error's type; its message may quote what the caller sent."""
    span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(Status(StatusCode.ERROR))


current_trace: ContextVar[CallTrace | None] = ContextVar("plughost_trace", default=None)


def step(name: str, attributes: Mapping[str, Any] | None = None) -> AbstractContextManager[Any]:
    """A child span of the current request's trace; a no-op (yielding a span that records
    nothing) when the request is not traced. The value has ``set_attribute``."""
    trace = current_trace.get()
    if trace is None:
        return _NO_STEP
    return trace.step(name, attributes)


def continued(payload: Mapping[str, Any]) -> AbstractContextManager[Any]:
    """Start the request's root span from the parsed message and make it current."""
    trace = current_trace.get()
    if trace is None:
        return _NO_STEP
    return use_span(
        trace.begin(payload),
        end_on_exit=False,
        record_exception=False,
        set_status_on_exception=False,  # its message could quote the arguments
    )


def current_tracer() -> Tracer | None:
    """The tracer of the request being served, for `ToolContext.span`; None when untraced."""
    trace = current_trace.get()
    return trace.tracer if trace is not None else None


class TraceEdge:
    """The ASGI layer that traces every request to the MCP endpoint."""

    def __init__(self, app: ASGIApp, *, tracer: Tracer, mcp_path: str) -> None:
        self.app = app
        self.tracer = tracer
        self.mcp_path = mcp_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.mcp_path:
            await self.app(scope, receive, send)
            return
        trace = CallTrace(self.tracer, scope, time.time_ns())
        token = current_trace.set(trace)
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                trace.begin()  # the recorder writes the record, with the trace id, at the end
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                trace.finish(status)  # the record is written: exported before the answer leaves
            await send(message)

        try:
            with suppress_fastmcp_telemetry():
                await self.app(scope, receive, sending)
        except Exception as exc:
            trace.finish(status or 500, exc)
            raise
        finally:
            trace.finish(status)
            current_trace.reset(token)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _meta_carrier(payload: Mapping[str, Any]) -> dict[str, str]:
    """``traceparent`` and ``tracestate`` from ``params._meta``, where clients put them."""
    params = payload.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return {}
    return {k: v for k in ("traceparent", "tracestate") if isinstance(v := meta.get(k), str)}
