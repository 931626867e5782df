"""FastMCP middleware: what a caller may list, and the outcomes FastMCP itself decides.

`ScopeFilter` shows a caller only the tools its scopes allow. `CallOutcomes` notes on the call
record what happens inside FastMCP before or around the plugin's function: arguments refused
by validation, a call the HTTP gate never saw (an in-process client) refused for its scopes,
and failures after the function returned. For such an in-process call it also opens and writes
the call record, which the HTTP edge does otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import Middleware, MiddlewareContext
from fastmcp.tools.base import ToolResult
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from plughost.auth.provider import CallerToken
from plughost.core.adapter import error_result
from plughost.core.callrecord import CallLedger, CallRecord, current_call
from plughost.core.naming import missing_scopes
from plughost.core.registry import ToolRegistry
from plughost.ops.audit import Outcome
from plughost.ops.logs import request_id
from plughost.sdk.context import Caller


class ScopeFilter(Middleware):
    def __init__(self, registry: ToolRegistry, *, list_all: bool) -> None:
        self.registry = registry
        self.list_all = list_all

    async def on_list_tools(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        tools = await call_next(context)
        if self.list_all:
            return tools
        granted = _caller_scopes()
        return [
            tool
            for tool in tools
            if (entry := self.registry.get(tool.name)) is not None
            and not missing_scopes(entry.scopes, granted)
        ]


class CallOutcomes(Middleware):
    def __init__(self, registry: ToolRegistry, ledger: CallLedger) -> None:
        self.registry = registry
        self.ledger = ledger

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        record = current_call.get()
        if record is not None:
            return await self._observe(record, context, call_next)
        record = CallRecord(request_id.get())
        token = current_call.set(record)
        try:
            return await self._observe(record, context, call_next)
        finally:
            self.ledger.write(record)
            current_call.reset(token)

    async def _observe(
        self, record: CallRecord, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        name = context.message.name
        if record.caller is None:
            record.caller, record.subject_token = _caller()
        record.tool = record.tool or name
        record.registered = record.registered or self.registry.get(name)
        if record.arguments is None:
            record.arguments = context.message.arguments or {}
        if record.registered is not None:
            missing = missing_scopes(record.registered.scopes, _caller_scopes())
            if missing:
                record.deny(missing)
                raise ToolError(f"insufficient scope: missing {' '.join(missing)}")
        try:
            return await call_next(context)
        except (ValidationError, PydanticValidationError) as exc:
            record.end(Outcome.INVALID_INPUT, "arguments failed validation")
            cause = exc if isinstance(exc, PydanticValidationError) else exc.__cause__
            if not isinstance(cause, PydanticValidationError):
                raise
            return invalid_arguments(record.tool or name, cause)
        except ToolError:
            record.end(Outcome.TOOL_ERROR)
            raise
        except Exception:
            record.outcome, record.detail = Outcome.INTERNAL_ERROR, "internal_error"
            raise


def invalid_arguments(tool: str, error: PydanticValidationError) -> ToolResult:
    """Arguments refused by validation, as a structured ``invalid_input`` error naming the
    public tool and each bad field (never the values sent, which may be large or secret)."""
    problems = [
        {
            "field": ".".join(str(part) for part in detail["loc"]) or "(arguments)",
            "message": detail["msg"],
            "type": detail["type"],
        }
        for detail in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return error_result(
        "invalid_input",
        f"invalid arguments for {tool}: {summary}",
        {"tool": tool, "errors": problems},
    )


def _caller() -> tuple[Caller | None, SecretStr | None]:
    token = get_access_token()
    if isinstance(token, CallerToken):
        return token.caller, SecretStr(token.token)
    return None, None


def _caller_scopes() -> set[str]:
    record = current_call.get()
    if record is not None and record.caller is not None:
        return set(record.caller.scopes)
    token = get_access_token()
    return set(token.scopes) if token is not None else set()
