"""FastMCP middleware for tool calls: scope filtering, and the audit and metrics of each call.

`ScopeFilter` shows a caller only the tools its scopes allow and refuses, again, a call the HTTP
gate did not see (an in-process client, say). `CallObserver` times every call and records its
outcome: ok, a tool's own error, invalid input, or an internal error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import Middleware, MiddlewareContext
from pydantic import ValidationError as PydanticValidationError

from plughost.auth.provider import CallerToken
from plughost.core.naming import missing_scopes
from plughost.ops.audit import AuditRecord, AuditTrail, Outcome
from plughost.ops.logs import request_id
from plughost.ops.metrics import Metrics


class ScopeFilter(Middleware):
    def __init__(self, required_scopes: Mapping[str, Sequence[str]], *, list_all: bool) -> None:
        self.required = required_scopes
        self.list_all = list_all

    async def on_list_tools(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        tools = await call_next(context)
        if self.list_all:
            return tools
        granted = _granted()
        return [t for t in tools if not missing_scopes(self.required.get(t.name, ()), granted)]

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        missing = missing_scopes(self.required.get(context.message.name, ()), _granted())
        if missing:
            raise ToolError(f"insufficient scope: missing {' '.join(missing)}")
        return await call_next(context)


class CallObserver(Middleware):
    def __init__(
        self,
        *,
        required_scopes: Mapping[str, Sequence[str]],
        tool_owner: Mapping[str, str],
        plugin_versions: Mapping[str, str],
        audit: AuditTrail,
        metrics: Metrics,
        include_arguments: bool,
    ) -> None:
        self.required = required_scopes
        self.owner = tool_owner
        self.versions = plugin_versions
        self.audit = audit
        self.metrics = metrics
        self.include_arguments = include_arguments

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        started = time.perf_counter()
        outcome, detail = Outcome.INTERNAL_ERROR, None
        try:
            result = await call_next(context)
            outcome, detail = _classify(result)
            return result
        except (ValidationError, PydanticValidationError):
            outcome, detail = Outcome.INVALID_INPUT, "arguments failed validation"
            raise
        except ToolError:
            outcome, detail = Outcome.TOOL_ERROR, None
            raise
        finally:
            self._observe(context, outcome, detail, time.perf_counter() - started)

    def _observe(
        self, context: MiddlewareContext[Any], outcome: Outcome, detail: str | None, seconds: float
    ) -> None:
        name = context.message.name
        arguments = context.message.arguments or {}
        token = get_access_token()
        caller = token.caller if isinstance(token, CallerToken) else None
        plugin = self.owner.get(name)
        self.metrics.calls.labels(tool=name, outcome=outcome.value).inc()
        self.metrics.latency.labels(tool=name).observe(seconds)
        self.audit.record(
            AuditRecord(
                request_id=request_id.get(),
                subject=caller.subject if caller else None,
                client_id=caller.client_id if caller else None,
                tenant=caller.tenant_id if caller else None,
                tool=name,
                plugin=plugin,
                plugin_version=self.versions.get(plugin or ""),
                required_scopes=list(self.required.get(name, ())),
                outcome=outcome,
                detail=detail,
                latency_ms=round(seconds * 1000, 3),
                arguments=dict(arguments) if self.include_arguments else sorted(arguments),
            )
        )


def _classify(result: Any) -> tuple[Outcome, str | None]:
    if not getattr(result, "is_error", False):
        return Outcome.OK, None
    error = (getattr(result, "structured_content", None) or {}).get("error") or {}
    code = error.get("code")
    if code == "invalid_input":
        return Outcome.INVALID_INPUT, code
    if code == "insufficient_scope":
        missing = (error.get("details") or {}).get("missing_scopes") or []
        return Outcome.DENIED, f"missing {' '.join(missing)}"
    if code == "internal_error":
        return Outcome.INTERNAL_ERROR, code
    return Outcome.TOOL_ERROR, code


def _granted() -> set[str]:
    token = get_access_token()
    return set(token.scopes) if token is not None else set()
