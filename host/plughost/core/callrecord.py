"""The call record: one per MCP request, filled in as the request passes, written once.

The recorder at the edge opens it; the auth provider notes why a token was refused; the call policy
notes the caller, the target and its verdict; the tool adapter notes what the plugin's function
did. When the response is complete the recorder hands it to the `CallLedger`, which writes one
audit record and the metrics, whatever the outcome. No layer audits or meters on its own, so a call
is counted exactly once and every outcome is counted the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import SecretStr

from plughost.core.registry import RegisteredTarget
from plughost.core.verdicts import DeniedByRule, Refused
from plughost.ops.audit import AuditRecord, AuditTrail, Outcome
from plughost.ops.metrics import Metrics
from plughost.sdk.context import Caller, Updates
from plughost.sdk.elicitation import Ask, Rounds, Sampler

#: The label metrics use for a tool name that is not in the registry: the caller chooses those
#: names, so they never become label values of their own.
UNREGISTERED = "(unregistered)"


@dataclass(slots=True)
class CallRecord:
    """What is known about one request so far."""

    request_id: str | None
    started: float = field(default_factory=time.perf_counter)
    caller: Caller | None = None
    #: The caller's bearer token, only for token exchange (`auth/token_exchange.py`); never
    #: audited, logged or shown (a `SecretStr`, left out of the repr).
    subject_token: SecretStr | None = field(default=None, repr=False)
    #: What the request named: a tool, prompt or resource (URI), bounded for logs and audit.
    tool: str | None = None
    #: Which kind of request it was: tool, prompt, resource or completion.
    kind: str | None = None
    registered: RegisteredTarget | None = None
    plugin: str | None = None
    arguments: Mapping[str, Any] | None = None
    outcome: Outcome | None = None
    detail: str | None = None
    auth_refusal: str | None = None
    #: The policy's refusal of this call, if it was refused (before it ran, or while running).
    verdict: Refused | None = None
    #: Set once the policy has admitted the call, so no later layer decides it again.
    admitted: bool = False
    #: Where the running call's progress and log messages go (a stream-reading client's).
    stream: Updates | None = field(default=None, repr=False)
    #: Where a tool's questions are asked while the call waits (on the stream), if they can be.
    questions: Questions | None = field(default=None, repr=False)
    #: The protocol version the edge answers the call in, when it answers it itself (the fast
    #: path, handshake versions only); None when FastMCP's transport answers.
    protocol_version: str | None = None
    notes: list[str] = field(default_factory=list)
    trace_id: str | None = None

    def end(self, outcome: Outcome, detail: str | None = None) -> None:
        """Settle the outcome; the first layer to settle it wins."""
        if self.outcome is None:
            self.outcome, self.detail = outcome, detail

    def refuse(self, verdict: Refused) -> None:
        """The policy refused the call. Overrides an outcome the tool settled, since an
        after-call guardrail may withhold a result the tool produced."""
        self.verdict = verdict
        self.outcome, self.detail = verdict.outcome, verdict.detail

    def span_attributes(self) -> dict[str, Any]:
        """What may go on the call's trace span: never arguments, never the token."""
        found: dict[str, Any] = {}
        if self.outcome is not None:
            found["plughost.outcome"] = self.outcome.value
            if self.outcome is not Outcome.OK:
                found["error.type"] = self.outcome.value
        if self.tool is not None:
            found["plughost.tool"] = found["gen_ai.tool.name"] = self.tool
        tool = self.registered
        plugin = tool.plugin if tool else self.plugin
        if plugin is not None:
            found["plughost.plugin"] = plugin
        if tool is not None:
            found["plughost.plugin.version"] = tool.plugin_version
        if isinstance(self.verdict, DeniedByRule):
            found["plughost.rule"] = self.verdict.rule
        if self.caller is not None:
            found["plughost.tenant"] = self.caller.tenant_id
            if self.caller.client_id:
                found["plughost.client_id"] = self.caller.client_id
        return found

    def span_name(self) -> str | None:
        """The root span's name once the call is known to name a tool."""
        return f"tools/call {self.registered.name}" if self.registered is not None else None


class Questions(Sampler, Protocol):
    """Where a running call's questions (and sampling requests) are sent while it waits: the
    call's stream (`plughost.core.stream_asking.StreamedQuestions`), or its host, from a
    worker."""

    #: Whether a question the function returns is asked (else the call answers it at once).
    can_ask: bool

    def rounds(self) -> Rounds:
        """What the function's next run reads: whether it can ask, the answers so far."""
        ...

    async def put(self, ask: Ask) -> None:
        """Ask and wait for the answer (a `ToolError` says why there is none)."""
        ...


current_call: ContextVar[CallRecord | None] = ContextVar("plughost_call", default=None)


class CallLedger:
    """Turns finished call records into audit records and metrics."""

    def __init__(self, audit: AuditTrail, metrics: Metrics, *, include_arguments: bool) -> None:
        self.audit = audit
        self.metrics = metrics
        self.include_arguments = include_arguments

    def write(self, record: CallRecord) -> Future[bool] | None:
        """Write a finished record; requests that neither named a tool nor were refused
        (``initialize``, ``tools/list``) leave no trace. With a durable audit trail, returns
        the future of the record's commit."""
        if record.outcome is None:
            return None
        seconds = time.perf_counter() - record.started
        tool = record.registered
        if record.outcome is Outcome.UNAUTHENTICATED:
            self.metrics.auth_failures.labels(reason=record.detail or "unknown").inc()
        if record.tool is not None:
            metrics, label = self.metrics, tool.name if tool else UNREGISTERED
            metrics.child(metrics.calls, label, record.outcome.value).inc()
            if record.outcome is Outcome.RATE_LIMITED:
                metrics.child(metrics.rate_limited, label).inc()
            if tool is not None:
                metrics.child(metrics.latency, tool.name).observe(seconds)
        return self.audit.record(self._audit_record(record, seconds))

    def _audit_record(self, record: CallRecord, seconds: float) -> AuditRecord:
        caller, tool, arguments = record.caller, record.registered, record.arguments or {}
        detail = "; ".join(filter(None, [record.detail, *record.notes])) or None
        return AuditRecord(
            request_id=record.request_id,
            subject=caller.subject if caller else None,
            client_id=caller.client_id if caller else None,
            tenant=caller.tenant_id if caller else None,
            kind=record.kind or ("tool" if record.tool is not None else None),
            tool=record.tool,
            plugin=tool.plugin if tool else record.plugin,
            plugin_version=tool.plugin_version if tool else None,
            required_scopes=list(tool.scopes) if tool else [],
            outcome=record.outcome or Outcome.INTERNAL_ERROR,
            detail=detail,
            latency_ms=round(seconds * 1000, 3),
            arguments=dict(arguments) if self.include_arguments else sorted(arguments),
            trace_id=record.trace_id,
        )
