"""A call the host forwarded, as the worker runs it: the same call record the adapter reads.

The host admitted the call (token, scopes, rate limit, guardrails) and sends the verified
caller in the request's ``_meta`` (`plughost.core.forwarding.caller_meta`). The worker
trusts it because only the host holds its pipes. `HostedCalls` turns it back into a
`CallRecord` on `current_call`, so the plugin's functions run exactly as in the host's
process (`core/adapter.py`), and hands the call's outcome back in the result's ``_meta``
(`outcome_meta`) for the host's one audit record.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastmcp.exceptions import ValidationError
from fastmcp.server.dependencies import fastmcp_request_ctx
from fastmcp.server.middleware import Middleware, MiddlewareContext
from fastmcp.tools.base import ToolResult
from pydantic import ValidationError as PydanticValidationError

from plughost.core.adapter import invalid_arguments
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.forwarding import caller_from_meta
from plughost.core.verdicts import MissingScopes
from plughost.ops.audit import Outcome
from plughost.sdk.context import Caller

#: Where a forwarded request carries the host's request id (the caller is the forwarding
#: core's ``plughost/caller``).
REQUEST_ID_META = "plughost/request_id"
#: Where the worker's result carries how the call ended.
OUTCOME_META = "plughost/outcome"


def outcome_meta(record: CallRecord) -> dict[str, Any]:
    """How the call ended, for the host's record: the outcome and, for a scope the function
    asked for that the caller lacks, the scopes its step-up challenge must name."""
    found: dict[str, Any] = {
        "outcome": (record.outcome or Outcome.INTERNAL_ERROR).value,
        "detail": record.detail,
    }
    if isinstance(record.verdict, MissingScopes):
        found["missing_scopes"] = list(record.verdict.missing)
    return found


class HostedCalls(Middleware):
    """The worker's one middleware: each call's record from ``_meta``, its outcome back."""

    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        with _record("tool") as record:
            try:
                result = await call_next(context)
            except (ValidationError, PydanticValidationError) as exc:
                cause = exc if isinstance(exc, PydanticValidationError) else exc.__cause__
                if not isinstance(cause, PydanticValidationError):
                    raise
                record.end(Outcome.INVALID_INPUT, "arguments failed validation")
                result = invalid_arguments(context.message.name, cause)
            if isinstance(result, ToolResult):
                result.meta = {**(result.meta or {}), OUTCOME_META: outcome_meta(record)}
            return result

    async def on_read_resource(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        with _record("resource"):
            return await call_next(context)

    async def on_get_prompt(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        with _record("prompt"):
            return await call_next(context)


@contextmanager
def _record(kind: str) -> Iterator[CallRecord]:
    """The call's record, with the caller the host sent; a call without one is refused by
    the adapter (no verified caller), as in the host."""
    request = fastmcp_request_ctx.get()
    meta = (request.meta if request is not None else None) or {}
    try:
        caller: Caller | None = caller_from_meta(meta)
    except (ValueError, KeyError, TypeError, PydanticValidationError):
        caller = None
    request_id = meta.get(REQUEST_ID_META)
    record = CallRecord(
        request_id if isinstance(request_id, str) else None,
        caller=caller,
        kind=kind,
        admitted=True,
    )
    token = current_call.set(record)
    try:
        yield record
    finally:
        current_call.reset(token)
