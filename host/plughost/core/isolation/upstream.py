"""An isolated plugin's worker as an `Upstream` of the forwarding core (`core/forwarding.py`).

The forwarding core serves the worker's tools like any plugin's, through the one call policy,
and bounds each call with its deadline. This adapter adds what only the host's own worker
can say: how the plugin's function ended (`hosted.outcome_meta`: ``internal_error``,
``timeout``, a scope it asked for the caller lacks, for a step-up challenge), settled on the
call's record exactly as the in-process adapter settles it. When a deadline cuts a call short
the worker is asked to prove it is still answering (`Worker.after_deadline`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
from mcp import types as mcp

from plughost.core.asking import input_required, rounds_of_call
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.forwarding import UpstreamError, UpstreamUnavailable, forward_deadline
from plughost.core.isolation.host_link import (
    ASKED_META,
    ASKS_META,
    ROUNDS_META,
    UPDATES_META,
    ask_from_wire,
    rounds_wire,
)
from plughost.core.isolation.hosted import OUTCOME_META, REQUEST_ID_META
from plughost.core.isolation.pipe import WorkerError
from plughost.core.isolation.relay import InFlight
from plughost.core.isolation.supervisor import Worker, WorkerUnavailable
from plughost.core.verdicts import MissingScopes
from plughost.ops.audit import Outcome
from plughost.sdk.elicitation import Ask, InputUnavailable, Rounds

#: JSON-RPC's internal error: the worker answered with what it must not.
_INTERNAL_ERROR = -32603


class WorkerUpstream:
    """Forwarded calls to one isolated plugin's `Worker`."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], meta: Mapping[str, Any]
    ) -> mcp.CallToolResult | mcp.InputRequiredResult:
        """The worker's result; or, when the tool asked a 2026-07-28 client, the round's
        ``input_required``, sealed here from the host's own record of the earlier rounds,
        exactly as the in-process adapter ends it (`asking.input_required`)."""
        record = current_call.get()
        sent = _meta(meta, record)
        rounds = Rounds()
        if record is not None and record.stream is not None:
            sent[UPDATES_META] = True  # its client reads the call's stream
        if record is not None and record.questions is not None:
            sent[ASKS_META] = True  # and can be asked there
        elif record is not None and (rounds := rounds_of_call()).can_ask:
            sent[ROUNDS_META] = rounds_wire(rounds)  # or is asked in rounds
        params = {"name": name, "arguments": dict(arguments), "_meta": sent}
        call = InFlight(record, forward_deadline.get()) if record is not None else None
        result = await self._request("tools/call", params, call=call)
        found = result.get("_meta") or {}
        question = _question(found, rounds)
        if record is not None:
            settle(record, found.get(OUTCOME_META))
        if question is not None:
            return input_required(question, rounds)
        return mcp.CallToolResult.model_validate(result)

    async def read_resource(self, uri: str, meta: Mapping[str, Any]) -> mcp.ReadResourceResult:
        result = await self._settled("resources/read", {"uri": uri}, meta)
        return mcp.ReadResourceResult.model_validate(result)

    async def get_prompt(
        self, name: str, arguments: Mapping[str, str], meta: Mapping[str, Any]
    ) -> mcp.GetPromptResult:
        params = {"name": name, "arguments": dict(arguments)}
        return mcp.GetPromptResult.model_validate(await self._settled("prompts/get", params, meta))

    async def complete(
        self, params: mcp.CompleteRequestParams, meta: Mapping[str, Any]
    ) -> mcp.CompleteResult:
        sent = params.model_dump(by_alias=True, mode="json", exclude_none=True)
        result = await self._settled("completion/complete", sent, meta)
        return mcp.CompleteResult.model_validate(result)

    async def _settled(
        self, method: str, params: dict[str, Any], meta: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A resource, prompt or completion request; how the worker's function ended settled
        on the call's record, from the result's ``_meta`` or the error's ``data``."""
        record = current_call.get()
        try:
            result = await self._request(method, {**params, "_meta": _meta(meta, record)})
        except UpstreamError as exc:
            if record is not None and isinstance(exc.data, dict):
                settle(record, exc.data.get(OUTCOME_META))
            raise
        if record is not None:
            settle(record, (result.get("_meta") or {}).get(OUTCOME_META))
        return result

    async def _request(
        self, method: str, params: dict[str, Any], call: InFlight | None = None
    ) -> dict[str, Any]:
        try:
            return await self.worker.request(method, params, call=call)
        except anyio.get_cancelled_exc_class():
            self.worker.after_deadline()
            raise
        except WorkerUnavailable as exc:
            raise UpstreamUnavailable(str(exc)) from None
        except WorkerError as exc:
            code = int(exc.error.get("code", -32603))
            raise UpstreamError(code, str(exc), exc.error.get("data")) from None


def _question(meta: Mapping[str, Any], rounds: Rounds) -> Ask | None:
    """The question the worker's result ends the round with, if any; one the host cannot ask
    (it never put the call in rounds, or the question is malformed) is the worker's fault."""
    if ASKED_META not in meta:
        return None
    if not rounds.can_ask:
        raise UpstreamError(_INTERNAL_ERROR, "the worker asked a question this call cannot put")
    try:
        return ask_from_wire(meta[ASKED_META])
    except InputUnavailable as exc:
        raise UpstreamError(_INTERNAL_ERROR, exc.message) from None


def _meta(meta: Mapping[str, Any], record: CallRecord | None) -> dict[str, Any]:
    """The forwarding core's ``_meta`` (the caller, the trace), plus the host's request id,
    which the worker's error results quote for the operator."""
    found = dict(meta)
    if record is not None and record.request_id is not None:
        found[REQUEST_ID_META] = record.request_id
    return found


def settle(record: CallRecord, ended: Any) -> None:
    """The outcome the worker's adapter settled, on the host's record of the call."""
    if not isinstance(ended, dict):
        return
    missing = ended.get("missing_scopes")
    if missing and record.caller is not None and record.registered is not None:
        entry = record.registered
        record.refuse(MissingScopes.of(entry.name, entry.scopes, missing, record.caller.scopes))
        return
    try:
        outcome = Outcome(str(ended.get("outcome")))
    except ValueError:
        return
    detail = ended.get("detail")
    record.end(outcome, detail if isinstance(detail, str) else None)
