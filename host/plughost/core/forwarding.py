"""Forwarded targets: a tool the host serves by calling another MCP server, as its client.

A mounted MCP server (`plughost.core.mounts`) and a plugin isolated in a worker process are,
to the host, the same thing: an MCP server it is a client of. Each of their tools is served
here as a FastMCP `Tool` (`ForwardedTool`) registered like a plugin's, so the fast path, the
one call policy (scopes, step-up, rate limits, guardrails), audit, tracing and the console
treat it as any other tool; its run forwards the arguments to the `Upstream` within the
target's deadline and settles the call's outcome on its record:

- the upstream's result: ``ok``; its ``isError`` result: ``tool_error`` (passed on as is);
- a JSON-RPC error it answers: ``invalid_input`` (-32602) or ``tool_error``, as an error result;
- no answer (down, killed mid-call, slower than the deadline): the verdict `TargetUnavailable`,
  which the edge answers 503 with ``Retry-After`` and the audit records as ``unavailable``.

Their resources, resource templates, prompts and completions are served the same way by
`plughost.core.forwarded_components`, through the `Upstream` methods below.

**The caller travels in the request's ``_meta``**, defined here once for every upstream:

    "plughost/caller": {"subject": str, "tenant": str, "client_id": str | null,
                        "scopes": [str, ...], "claims": {...}}
    "traceparent", "tracestate": W3C trace context of the call's span (when traced)

`caller_meta` writes it, `caller_from_meta` reads it back (a worker builds its `Caller` with
it). An upstream that is not the host's own worker may ignore it; it never holds the token.

API kept stable for the isolated-worker work: `Upstream` (implement it for a transport),
`UpstreamUnavailable`, `UpstreamError`, `ForwardedTool.build`, `caller_meta`,
`caller_from_meta`, `CALLER_META_KEY`, `refuse_unavailable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import anyio
from fastmcp.tools import Tool
from fastmcp.tools.base import InputRequiredToolResult, ToolResult
from mcp import types as mcp
from opentelemetry import propagate

from plughost.core.adapter import error_result, target_meta
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.registry import RegisteredTarget
from plughost.core.rich_results import result_size
from plughost.core.tool_schema import admit_errors
from plughost.core.verdicts import TargetUnavailable
from plughost.ops.audit import Outcome
from plughost.ops.tracing import step
from plughost.sdk.context import Caller
from plughost.sdk.errors import ToolError

#: The ``_meta`` key naming the caller of a forwarded request.
CALLER_META_KEY = "plughost/caller"
#: JSON-RPC's "invalid params": an upstream refusing the arguments.
_INVALID_PARAMS = -32602
#: The deadline of the forwarded call this task runs: an upstream that waits on the caller's
#: user (an isolated plugin's question) holds it while the user answers, as in-process.
forward_deadline: ContextVar[anyio.CancelScope | None] = ContextVar(
    "plughost_forward_deadline", default=None
)


class UpstreamUnavailable(Exception):
    """The upstream gave no answer: unreachable, gone mid-call, or too slow. The message says
    which, for the operator's log and the agent (never a credential)."""


class UpstreamError(Exception):
    """The upstream answered with a JSON-RPC error (``code``, ``message``, and its ``data``:
    the host's own worker says there how the plugin's function ended)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class Upstream(Protocol):
    """An MCP server the host forwards calls to (a mount's, or an isolated plugin's worker).

    Each method sends one request with ``meta`` as its ``_meta`` and returns the upstream's
    result; it raises `UpstreamUnavailable` when no answer comes (the caller bounds the wait
    with its own deadline, and cancelling it must abandon the request) and `UpstreamError`
    for a JSON-RPC error answer.
    """

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], meta: Mapping[str, Any]
    ) -> mcp.CallToolResult | mcp.InputRequiredResult: ...

    async def read_resource(self, uri: str, meta: Mapping[str, Any]) -> mcp.ReadResourceResult: ...

    async def get_prompt(
        self, name: str, arguments: Mapping[str, str], meta: Mapping[str, Any]
    ) -> mcp.GetPromptResult: ...

    async def complete(
        self, params: mcp.CompleteRequestParams, meta: Mapping[str, Any]
    ) -> mcp.CompleteResult: ...


def caller_meta(record: CallRecord) -> dict[str, Any]:
    """The ``_meta`` of a forwarded request: the verified caller and the trace context."""
    caller = record.caller
    meta: dict[str, Any] = {}
    if caller is not None:
        meta[CALLER_META_KEY] = {
            "subject": caller.subject,
            "tenant": caller.tenant_id,
            "client_id": caller.client_id,
            "scopes": sorted(caller.scopes),
            "claims": dict(caller.claims),
        }
    carrier: dict[str, str] = {}
    propagate.inject(carrier)  # the current span's context; nothing when untraced
    meta.update({k: v for k, v in carrier.items() if k in ("traceparent", "tracestate")})
    return meta


def caller_from_meta(meta: Mapping[str, Any] | None) -> Caller:
    """The caller a forwarded request names; `ValueError` when it names none (a request
    that did not come through the host)."""
    found = (meta or {}).get(CALLER_META_KEY)
    if not isinstance(found, Mapping):
        raise ValueError(f"the request's _meta has no {CALLER_META_KEY!r}")
    return Caller(
        subject=found["subject"],
        tenant_id=found["tenant"],
        client_id=found.get("client_id"),
        scopes=frozenset(found.get("scopes") or ()),
        claims=dict(found.get("claims") or {}),
    )


class ForwardedTool(Tool):
    """A tool served by forwarding each call to an `Upstream` under its own name there."""

    _upstream: Upstream
    _upstream_name: str
    _entry: RegisteredTarget
    _deadline: float
    _max_result_bytes: int

    @classmethod
    def build(
        cls,
        upstream: Upstream,
        listed: mcp.Tool,
        entry: RegisteredTarget,
        *,
        deadline: float,
        max_result_bytes: int,
        meta: Mapping[str, Any] | None = None,
    ) -> ForwardedTool:
        """The tool ``listed`` by ``upstream``, served as ``entry`` (its public name and
        scopes); ``meta`` adds to what agents read under ``_meta.plughost``."""
        tool = cls(
            name=entry.name,
            title=listed.title,
            description=listed.description,
            parameters=dict(listed.input_schema),
            output_schema=admit_errors(listed.output_schema),
            annotations=listed.annotations,
            meta=target_meta(entry, {"conditional_scopes": {}, **(meta or {})}),
        )
        tool._upstream, tool._upstream_name, tool._entry = upstream, listed.name, entry
        tool._deadline, tool._max_result_bytes = deadline, max_result_bytes
        return tool

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        record = current_call.get()
        if record is None or record.caller is None:
            raise PermissionError("no verified caller for this request")
        attributes = {"plughost.tool": self.name, "plughost.plugin": self._entry.plugin}
        with step(f"tool {self.name}", attributes) as span:
            result = await self._forward(record, arguments)
            if record.outcome is not None:
                span.set_attribute("plughost.outcome", record.outcome.value)
        return result

    async def _forward(self, record: CallRecord, arguments: dict[str, Any]) -> ToolResult:
        """One call upstream within the deadline, its outcome settled on ``record``."""
        meta = caller_meta(record)
        try:
            with anyio.fail_after(self._deadline) as deadline:
                held = forward_deadline.set(deadline)
                try:
                    answer = await self._upstream.call_tool(self._upstream_name, arguments, meta)
                finally:
                    forward_deadline.reset(held)
        except TimeoutError:
            return unavailable(record, self._entry, f"no answer within {self._deadline:g}s")
        except UpstreamUnavailable as exc:
            return unavailable(record, self._entry, str(exc))
        except ToolError as exc:  # the host's own part failed: a token exchange refused
            record.end(Outcome.TOOL_ERROR, exc.code)
            error = exc.to_dict()
            return error_result(exc.code, error["message"], error.get("details"))
        except UpstreamError as exc:
            invalid = exc.code == _INVALID_PARAMS
            record.end(Outcome.INVALID_INPUT if invalid else Outcome.TOOL_ERROR, "upstream error")
            code = "invalid_input" if invalid else "upstream_error"
            return error_result(code, f"{self.name}: {exc.message}")
        if isinstance(answer, mcp.InputRequiredResult):  # a question ends this round
            return InputRequiredToolResult(answer)
        result = ToolResult(
            content=answer.content,
            structured_content=answer.structured_content,
            is_error=answer.is_error,
        )
        size = result_size(result)
        if size > self._max_result_bytes:
            record.end(Outcome.TOOL_ERROR, "result_too_large")
            return error_result(
                "result_too_large",
                f"{self.name} returned {size} bytes, more than this server sends "
                f"({self._max_result_bytes}, PLUGHOST_MAX_RESULT_BYTES): ask for less",
                {"bytes": size, "limit": self._max_result_bytes},
            )
        if answer.is_error:
            record.end(Outcome.TOOL_ERROR, "upstream tool error")
        else:
            record.end(Outcome.OK)
        return result


def unavailable(record: CallRecord, entry: RegisteredTarget, reason: str) -> ToolResult:
    """The call found no upstream answer: its verdict is `TargetUnavailable` (503 at the edge);
    an in-process client gets the same as an ``unavailable`` error result."""
    verdict = refuse_unavailable(record, entry, reason)
    return error_result(
        "unavailable",
        f"{entry.name} is unavailable ({reason}); retry after {verdict.retry_after}s",
        {"retry_after": verdict.retry_after},
    )


def refuse_unavailable(
    record: CallRecord, entry: RegisteredTarget, reason: str
) -> TargetUnavailable:
    """Settle `TargetUnavailable` on ``record``: no answer came from ``entry``'s upstream
    (the target named as the caller did: a resource's URI, not its template)."""
    verdict = TargetUnavailable(
        target=record.tool or entry.name, plugin=entry.plugin, reason=reason, kind=entry.kind
    )
    record.refuse(verdict)
    return verdict
