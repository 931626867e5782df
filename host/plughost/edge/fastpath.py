"""Answer a stateless ``tools/call`` without the transport's per-request session machinery.

In stateless JSON mode the MCP SDK builds, for every request, a new server session, a task
group, memory streams and cancel scopes, routes the message through them, and tears it all
down: most of a call's cost when the tool itself is quick (bench/RESULTS.md). None of that
carries anything a stateless answer needs. So for a ``tools/call`` in a handshake-era
protocol version, with an id, from a client that accepts JSON, the host calls the tool
through the call policy (the same guardrails, validation and result conversion) and writes
the JSON-RPC response as the SDK's runner would; when the tool reports progress or logs and
the client reads ``text/event-stream``, the answer becomes an event stream carrying those
notifications first (`plughost.core.call_stream`), and the questions the tool asks, for a
client on 2025-06-18 or 2025-11-25 that declared elicitation, and its sampling requests, for
one that declared sampling (`plughost.core.stream_asking`).
Everything else falls back to the transport.
`tests/test_fastpath.py` sends one corpus of requests both ways and compares the answers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

from fastmcp.exceptions import FastMCPError
from fastmcp.tools import Tool
from mcp.server.streamable_http import check_accept_headers
from mcp_types.methods import serialize_server_result
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic_core import to_json
from starlette.requests import Request
from starlette.types import Scope, Send

from plughost.core.call_stream import CallStream
from plughost.core.callrecord import CallRecord
from plughost.core.stream_asking import StreamAsking
from plughost.core.wire_results import dump, error_call_result, wire_dump
from plughost.edge.answers import Answers
from plughost.edge.message import Message
from plughost.policy.call_policy import CallPolicy

log = logging.getLogger("plughost.fastpath")

#: The protocol version the transport assumes when a request names none.
DEFAULT_VERSION = "2025-03-26"

_PLAIN_PARAMS = frozenset({"name", "arguments", "_meta"})


class Reply(NamedTuple):
    """How the fast path answers a call: in this protocol version, and whether the client
    reads an event stream (else JSON only)."""

    version: str
    event_stream: bool


class FastPath:
    def __init__(
        self, tools: Mapping[str, Tool], policy: CallPolicy, asking: StreamAsking | None = None
    ) -> None:
        self.tools = tools
        self.policy = policy
        self.asking = asking

    def reply_for(self, scope: Scope, message: Message) -> Reply | None:
        """How to answer ``message`` here, or None when the transport must answer it."""
        params = message.payload.get("params")
        if message.method != "tools/call" or "id" not in message.payload:
            return None
        if not isinstance(params, dict) or not set(params) <= _PLAIN_PARAMS:
            return None
        request = Request(scope)
        version = request.headers.get("mcp-protocol-version", DEFAULT_VERSION)
        # Never 2026-07-28: its rounds (a tool asking its user, `plughost.core.asking`) need
        # the transport's request-state boundary, which seals and verifies ``requestState``
        # and which `FastMCP.call_tool` skips. Keep this path to handshake versions.
        if version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return None
        has_json, has_sse = check_accept_headers(request)
        return Reply(version, has_sse) if has_json else None

    async def serve(
        self,
        record: CallRecord,
        message: Message,
        reply: Reply,
        send: Send,
        answers: Answers,
    ) -> None:
        """Answer an admitted call: in JSON, or as an event stream once the tool reports
        progress or logs (to a client that reads ``text/event-stream``)."""
        version = record.protocol_version = reply.version
        stream = None
        if reply.event_stream:
            meta = message.payload["params"].get("_meta") or {}
            token = meta.get("progressToken")
            if not isinstance(token, str | int) or isinstance(token, bool):
                token = None
            stream = record.stream = CallStream(send, token, message.tool_name or "")
            if self.asking is not None:
                caller = record.caller
                assert caller is not None
                record.questions = await self.asking.questions_for(caller, stream, version)
        try:
            result = await self.call(record, message)
        except BaseException:
            if stream is not None:
                stream.abandon()
            raise
        verdict = record.verdict
        if stream is not None and stream.started:
            body = (
                answers.body(verdict, message.id)
                if verdict
                else _response(message, version, result)
            )
            await stream.finish(body)
        elif verdict is not None:
            await answers.send(send, verdict, message.id)
        else:
            await self.respond(message, version, result, send)

    async def respond(
        self, message: Message, version: str, result: dict[str, Any], send: Send
    ) -> None:
        """Send the JSON-RPC response the transport would have sent for ``result`` (the
        `CallToolResult`, dumped: `wire_dump`)."""
        body = _response(message, version, result)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def call(self, record: CallRecord, message: Message) -> dict[str, Any]:
        """Run the admitted call as the transport would, through the call policy, and treat
        what it raises and results that are not JSON objects as the wire handler does
        (wrapped as ``{"result": ...}`` for these versions, as every handshake-era client
        expects). The tool is called directly: FastMCP's `call_tool` would look it up again
        and run a middleware chain whose only member is the same policy. The result comes
        back as the wire's JSON object (`wire_dump`)."""
        params = message.payload["params"]
        name = params["name"]
        tool = self.tools.get(name)
        if tool is None:
            return dump(error_call_result(f"Unknown tool: {name!r}"))
        try:
            result = await self.policy.execute(record, params.get("arguments") or {}, tool._run)
        except FastMCPError as exc:
            return dump(error_call_result(str(exc)))
        return wire_dump(result)


def _response(message: Message, version: str, dumped: dict[str, Any]) -> bytes:
    """The JSON-RPC response to ``message`` carrying the dumped result, serialised as the
    SDK's runner would."""
    # The SDK's `JSONRPCResponse` dumped: these three members, in this order, compact. The
    # id is the request's own (a string or an integer the gate checked).
    response = {
        "jsonrpc": "2.0",
        "id": message.id,
        "result": serialize_server_result("tools/call", version, dumped),
    }
    return to_json(response)
