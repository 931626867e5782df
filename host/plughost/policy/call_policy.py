"""`CallPolicy`: the one place a request a plugin serves is decided.

Every call, whichever way it reaches the host (the HTTP edge's fast path, FastMCP's transport,
an in-process client), is admitted here once, in a fixed order: the caller, the target's
required scopes, the caller's rate limit (unknown names spend budget too, so guessing names is
limited like calling), a target whose server is down (a mount's, answered unavailable), an
unknown target. The answer is a verdict
(`plughost.core.verdicts`) settled on the call record, or None when the call may go ahead; the
edge maps a verdict to its HTTP answer and the recorder audits it. Scopes a tool asks for while
running (its conditional scopes) and guardrails are the policy's too: they come back as the
same verdicts, from `around`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastmcp.exceptions import FastMCPError, ValidationError
from fastmcp.tools.base import ToolResult
from pydantic import ValidationError as PydanticValidationError

from plughost.core import verdicts
from plughost.core.adapter import invalid_arguments
from plughost.core.callrecord import CallRecord
from plughost.core.naming import bounded_name, missing_scopes
from plughost.core.registry import Kind, ToolRegistry
from plughost.ops.audit import Outcome
from plughost.ops.metrics import Metrics
from plughost.ops.ratelimit import RateLimiter, RateLimitUnavailable
from plughost.ops.tracing import step
from plughost.policy.guardrails import Guardrails

log = logging.getLogger("plughost.policy")

T = TypeVar("T")


@dataclass(frozen=True)
class CallPolicy:
    """The host's rules for calls: its registry, the callers' budgets, the guardrails, and
    what to do when rate-limit storage is down (``on_storage_error``: open or closed)."""

    registry: ToolRegistry
    limiter: RateLimiter
    guardrails: Guardrails
    metrics: Metrics
    on_storage_error: str
    list_all: bool = False

    async def admit(
        self, record: CallRecord, name: str, arguments: Mapping[str, Any], kind: Kind = "tool"
    ) -> verdicts.Refused | None:
        """Decide the use of the ``kind`` target ``name`` (a tool to call, a prompt to get, a
        resource to read) before it runs; a refusal is settled on ``record``."""
        record.tool = bounded_name(name)
        record.arguments = arguments
        record.kind = record.kind or kind
        verdict = await self._decide(record, name, kind)
        if verdict is None:
            record.admitted = True
        else:
            record.refuse(verdict)
        return verdict

    async def _decide(self, record: CallRecord, name: str, kind: Kind) -> verdicts.Refused | None:
        caller = record.caller
        if caller is None:
            return verdicts.Unauthenticated("no bearer token", error=None)
        entry = self.registry.lookup(kind, name)
        record.registered = entry
        shown = record.tool or name
        if entry is not None:
            missing = missing_scopes(entry.scopes, caller.scopes)
            if missing:
                return verdicts.MissingScopes.of(shown, entry.scopes, missing, caller.scopes, kind)
        # An unknown name spends budget too, so guessing names is rate limited like calling.
        limited = await self._within_rate(record, shown, kind)
        if limited is not None:
            return limited
        down = self.registry.down(name, kind)
        if down is not None:
            namespace, reason = down
            record.plugin = namespace
            return verdicts.TargetUnavailable(
                target=shown, plugin=namespace, reason=reason, kind=kind
            )
        if entry is not None:
            return None
        record.plugin = self.registry.refused_owner(name, kind)
        return verdicts.UnknownTarget(shown, record.plugin, kind)

    async def _within_rate(
        self, record: CallRecord, target: str, kind: Kind
    ) -> verdicts.Refused | None:
        caller = record.caller
        assert caller is not None
        with step("rate limit") as span:
            try:
                retry_after = await self.limiter.hit(
                    client=caller.client_id, subject=caller.subject, tool=target
                )
            except RateLimitUnavailable as exc:
                span.set_attribute("plughost.rate_limit.result", "unavailable")
                return self._storage_failed(record, exc)
            span.set_attribute(
                "plughost.rate_limit.result", "allowed" if retry_after is None else "limited"
            )
        return None if retry_after is None else verdicts.RateLimited(target, retry_after, kind=kind)

    def _storage_failed(
        self, record: CallRecord, exc: RateLimitUnavailable
    ) -> verdicts.Refused | None:
        """The stated policy when rate-limit storage is down: open (proceed, noted) or closed."""
        self.metrics.rate_limit_storage_errors.inc()
        if not exc.skipped:
            log.warning("%s (policy: fail %s)", exc, self.on_storage_error)
        if self.on_storage_error != "open":
            return verdicts.LimitsUnavailable()
        skipped = " (not tried: it failed moments ago)" if exc.skipped else ""
        record.notes.append(f"rate limit not checked: storage unavailable{skipped}")
        return None

    async def execute(
        self, record: CallRecord, arguments: dict[str, Any], run: Callable[..., Awaitable[T]]
    ) -> T | ToolResult:
        """Run an admitted call, ``run(arguments)``, between the guardrails (their refusal is
        its verdict), and settle on the record what FastMCP decides around the function:
        arguments refused by validation (answered as a structured ``invalid_input``), its own
        errors, a failure after the function returned."""
        try:
            result: T = await self.guardrails.around(record, arguments, run)
            return result
        except (ValidationError, PydanticValidationError) as exc:
            record.end(Outcome.INVALID_INPUT, "arguments failed validation")
            cause = exc if isinstance(exc, PydanticValidationError) else exc.__cause__
            is_tool = record.registered is None or record.registered.kind == "tool"
            if not isinstance(cause, PydanticValidationError) or not is_tool:
                raise
            return invalid_arguments(record.tool or "", cause)
        except FastMCPError:
            record.end(Outcome.TOOL_ERROR)
            raise
        except Exception:
            record.outcome, record.detail = Outcome.INTERNAL_ERROR, "internal_error"
            raise

    def visible(self, kind: Kind, names: Iterable[str], granted: Iterable[str]) -> set[str]:
        """Of the ``kind`` targets ``names``, those a caller holding ``granted`` may use (what
        it is listed)."""
        scopes = set(granted)
        return {
            name
            for name in names
            if (entry := self.registry.lookup(kind, name)) is not None
            and (self.list_all or not missing_scopes(entry.scopes, scopes))
        }
