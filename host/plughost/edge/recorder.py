"""The outermost layer of every request: open the call record, write it once, never a bare 500.

`CallRecorder` opens a `CallRecord` before anything else runs and, when the response is done,
hands it to the `CallLedger`: one audit record and one set of metrics per call, whatever layer
decided the outcome. The record is written before the last byte of the response leaves; with
a durable audit trail the recorder also waits for its commit, so no caller is told a call
succeeded whose record could still be lost. It is also the host's last line of defence: an
exception no inner layer handled becomes a JSON error carrying the request id (a JSON-RPC
error on the MCP endpoint), with the traceback in the log and never in the response.
"""

from __future__ import annotations

import asyncio
import logging

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plughost.core.callrecord import CallLedger, CallRecord, current_call
from plughost.edge.asgi import INTERNAL_ERROR, jsonrpc_error, send_json
from plughost.edge.message import message_of
from plughost.ops.audit import Outcome
from plughost.ops.logs import request_id
from plughost.ops.tracing import current_trace

log = logging.getLogger("plughost.edge")


class CallRecorder:
    def __init__(
        self, app: ASGIApp, *, ledger: CallLedger, mcp_path: str, commit_timeout: float = 30.0
    ) -> None:
        self.app = app
        self.ledger = ledger
        self.mcp_path = mcp_path
        self.commit_timeout = commit_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = CallRecord(request_id.get())
        token = current_call.set(record)
        trace = current_trace.get()
        if trace is not None:
            trace.record = record
        is_mcp = scope["path"].rstrip("/") == self.mcp_path
        status: int | None = None
        written = False

        async def watching(message: Message) -> None:
            nonlocal status, written
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                written = True  # the record is written before the caller has its answer
                await self._write(record)
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception:
            log.exception("unhandled error serving %s %s", scope["method"], scope["path"])
            record.outcome, record.detail = Outcome.INTERNAL_ERROR, "unhandled error in the host"
            if status is None:
                await self._internal_error(scope, watching, is_mcp, record.request_id)
        finally:
            if not written:
                self.ledger.write(record)
            current_call.reset(token)

    async def _write(self, record: CallRecord) -> None:
        """Write the call's record; with a durable trail, wait until it is committed."""
        committed = self.ledger.write(record)
        if committed is None:
            return
        try:
            with anyio.fail_after(self.commit_timeout):
                ok = await asyncio.wrap_future(committed)
        except TimeoutError:
            ok = False
        if not ok:
            log.error("audit record of request %s was not committed", record.request_id)

    async def _internal_error(
        self, scope: Scope, send: Send, is_mcp: bool, rid: str | None
    ) -> None:
        text = f"internal error; give this request id to the operator: {rid}"
        if is_mcp:
            message = message_of(scope)
            body = jsonrpc_error(
                message.id if message else None, INTERNAL_ERROR, text, {"request_id": rid}
            )
        else:
            body = {"error": "internal_error", "error_description": text, "request_id": rid}
        await send_json(send, 500, body)
