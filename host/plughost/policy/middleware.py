"""`PolicyMiddleware`: the call policy inside FastMCP, for every use and every list.

Requests that came through the HTTP edge were admitted there (the record says so); the fast
path runs tools through the policy itself, and FastMCP's transport reaches a plugin's tool,
prompt or resource through this middleware, which runs the guardrails around it. A request
that did not come through the edge (an in-process client) is admitted here, by the same
policy, and its record opened and written here. Lists show only what the caller may use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastmcp.exceptions import PromptError, ResourceError, ToolError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import Middleware, MiddlewareContext
from pydantic import SecretStr

from plughost.core.callrecord import CallLedger, CallRecord, current_call
from plughost.core.registry import Kind
from plughost.ops.logs import request_id
from plughost.policy.call_policy import CallPolicy
from plughost.sdk.context import Caller

#: What an in-process client gets for a refusal, by the kind of target refused.
_REFUSAL_ERRORS: dict[Kind, type[Exception]] = {
    "tool": ToolError,
    "prompt": PromptError,
    "resource": ResourceError,
}

Next = Callable[..., Awaitable[Any]]


class PolicyMiddleware(Middleware):
    def __init__(self, policy: CallPolicy, ledger: CallLedger) -> None:
        self.policy = policy
        self.ledger = ledger

    async def on_list_tools(self, context: MiddlewareContext[Any], call_next: Next) -> Any:
        return self._visible("tool", await call_next(context), lambda tool: tool.name)

    async def on_list_prompts(self, context: MiddlewareContext[Any], call_next: Next) -> Any:
        return self._visible("prompt", await call_next(context), lambda prompt: prompt.name)

    async def on_list_resources(self, context: MiddlewareContext[Any], call_next: Next) -> Any:
        return self._visible("resource", await call_next(context), lambda r: str(r.uri))

    async def on_list_resource_templates(
        self, context: MiddlewareContext[Any], call_next: Next
    ) -> Any:
        return self._visible("resource", await call_next(context), lambda t: t.uri_template)

    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: Next) -> Any:
        message = context.message
        return await self._use("tool", message.name, message.arguments, context, call_next)

    async def on_get_prompt(self, context: MiddlewareContext[Any], call_next: Next) -> Any:
        message = context.message
        return await self._use("prompt", message.name, message.arguments, context, call_next)

    async def on_read_resource(self, context: MiddlewareContext[Any], call_next: Next) -> Any:
        return await self._use("resource", str(context.message.uri), {}, context, call_next)

    def _visible(self, kind: Kind, items: Sequence[Any], name: Callable[[Any], str]) -> Any:
        shown = self.policy.visible(kind, [name(item) for item in items], _caller_scopes())
        return [item for item in items if name(item) in shown]

    async def _use(
        self,
        kind: Kind,
        name: str,
        arguments: dict[str, Any] | None,
        context: MiddlewareContext[Any],
        call_next: Next,
    ) -> Any:
        """Admit the use if the edge did not (an in-process call), then run it."""
        sent = dict(arguments or {})
        with self._record(kind) as record:
            if not record.admitted:
                if record.caller is None:
                    record.caller, record.subject_token = _caller()
                verdict = await self.policy.admit(record, name, sent, kind)
                if verdict is not None:
                    raise _REFUSAL_ERRORS[kind](f"{name}: {verdict.detail}")

            async def call(changed: dict[str, Any]) -> Any:
                if changed == sent:
                    return await call_next(context)
                message = context.message.model_copy(update={"arguments": changed})
                return await call_next(context.copy(message=message))

            result = await self.policy.execute(record, sent, call)
            if kind != "tool" and record.verdict is not None:
                # A guardrail refused a read or a prompt: its error (a tool's is its result).
                raise _REFUSAL_ERRORS[kind](f"{name}: {record.verdict.detail}")
            return result

    @contextmanager
    def _record(self, kind: Kind) -> Iterator[CallRecord]:
        """The request's call record; for a call that did not come through the edge, one
        opened here and written when the call is done."""
        record = current_call.get()
        if record is not None:
            yield record
            return
        record = CallRecord(request_id.get(), kind=kind)
        token = current_call.set(record)
        try:
            yield record
        finally:
            self.ledger.write(record)
            current_call.reset(token)


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
