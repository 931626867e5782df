"""`PolicyMiddleware`: the call policy inside FastMCP, for every call and every list.

Calls that came through the HTTP edge were admitted there (the record says so); the fast path
and FastMCP's transport both reach the plugin's function through `FastMCP.call_tool`, and so
through this middleware, which runs the guardrails around it. A call that did not come through
the edge (an in-process client) is admitted here, by the same policy, and its record opened and
written here. It also notes what FastMCP itself decides around the function (arguments refused
by validation, failures after it returned) and lists only what the caller may call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import Middleware, MiddlewareContext
from pydantic import SecretStr

from plughost.core.callrecord import CallLedger, CallRecord, current_call
from plughost.ops.logs import request_id
from plughost.policy.call_policy import CallPolicy
from plughost.sdk.context import Caller


class PolicyMiddleware(Middleware):
    def __init__(self, policy: CallPolicy, ledger: CallLedger) -> None:
        self.policy = policy
        self.ledger = ledger

    async def on_list_tools(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        tools = await call_next(context)
        visible = self.policy.visible((tool.name for tool in tools), _caller_scopes())
        return [tool for tool in tools if tool.name in visible]

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        record = current_call.get()
        if record is not None:
            return await self._serve(record, context, call_next)
        record = CallRecord(request_id.get())
        token = current_call.set(record)
        try:
            return await self._serve(record, context, call_next)
        finally:
            self.ledger.write(record)
            current_call.reset(token)

    async def _serve(
        self, record: CallRecord, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        name = context.message.name
        arguments = dict(context.message.arguments or {})
        if not record.admitted:
            if record.caller is None:
                record.caller, record.subject_token = _caller()
            verdict = await self.policy.admit(record, name, arguments)
            if verdict is not None:
                raise ToolError(f"{name}: {verdict.detail}")

        async def call(changed: dict[str, Any]) -> Any:
            if changed == arguments:
                return await call_next(context)
            message = context.message.model_copy(update={"arguments": changed})
            return await call_next(context.copy(message=message))

        return await self.policy.execute(record, arguments, call)


def _caller() -> tuple[Caller | None, SecretStr | None]:
    """The verified caller of an in-process call, from FastMCP's request context."""
    token = get_access_token()
    caller = getattr(token, "caller", None)
    if token is not None and isinstance(caller, Caller):
        return caller, SecretStr(token.token)
    return None, None


def _caller_scopes() -> set[str]:
    record = current_call.get()
    if record is not None and record.caller is not None:
        return set(record.caller.scopes)
    token = get_access_token()
    return set(token.scopes) if token is not None else set()
