"""`RequestGate`: an MCP request from the wire to the call policy and back.

The gate does transport only, then hands the call to the policy: it refuses what the stateless
transport never serves (other methods, a token in the URL, an unknown protocol version, a body
that is not JSON), reads the body once (size-capped) and parses it once (depth-bounded). It
verifies the caller's bearer token itself (`PlughostAuth.verify_token`, from the verifier's
cache); a request without a valid one is answered by the verdict the policy's first step gives.
Every ``tools/call`` is admitted by `CallPolicy`; a refusal is answered by `Answers`, and an
admitted call goes to the fast path or, for what only the transport serves, to FastMCP's
transport. A refusal while the call runs (a scope the tool asks for, a guardrail) is the call's
verdict too, answered the same way. A list request (``tools/list`` and the others) is counted
against the caller's list budget first. A caller's answer to a question a call asked on its
stream is handed to the waiting call (`plughost.core.stream_asking`), and its client's
``initialize`` says whether it can answer.

The gate sits in front of FastMCP's app: what it answers itself (admitted calls on the fast
path, refusals, answers to questions) never enters FastMCP's request context or its bearer
middleware; what it passes on is verified there again, from the same cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from mcp_types.jsonrpc import UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plughost.auth.provider import PlughostAuth
from plughost.auth.verifier import ISSUER_UNAVAILABLE
from plughost.core.answer_router import AnswersUnavailable, Undeliverable, is_answer
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.stream_asking import StreamAsking
from plughost.core.verdicts import IssuerUnavailable, Refused, Unauthenticated
from plughost.edge import message as messages
from plughost.edge.answers import Answers
from plughost.edge.asgi import (
    INVALID_REQUEST,
    UNAVAILABLE,
    BodyTooLarge,
    header,
    jsonrpc_error,
    read_body,
    replay,
    send_json,
)
from plughost.edge.fastpath import FastPath
from plughost.ops.audit import Outcome
from plughost.ops.tracing import continued
from plughost.policy.call_policy import CallPolicy

#: The list requests, every caller's, counted against its list budget.
LIST_METHODS = frozenset(
    {"tools/list", "prompts/list", "resources/list", "resources/templates/list"}
)

RETRY_SOON = [(b"retry-after", b"1")]

TOKEN_IN_URL = Unauthenticated(
    "token in query string",
    error="invalid_request",
    description="send the token in the Authorization header, not the URL",
)


@dataclass(frozen=True)
class Transport:
    """What the gate enforces of the transport, from the host's settings."""

    mcp_path: str
    max_body_bytes: int
    max_json_depth: int


class RequestGate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        transport: Transport,
        auth: PlughostAuth,
        policy: CallPolicy,
        answers: Answers,
        fast_path: FastPath | None = None,
        asking: StreamAsking | None = None,
    ) -> None:
        self.app = app
        self.transport = transport
        self.auth = auth
        self.policy = policy
        self.answers = answers
        self.fast_path = fast_path
        self.asking = asking

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.transport.mcp_path:
            await self.app(scope, receive, send)
            return
        record = current_call.get() or CallRecord(None)
        if not await self._transport_allows(scope, record, send):
            return
        refused = await self._caller(scope, record)
        if refused is not None:
            record.refuse(refused)
            await self.answers.send(send, refused)
            return
        if not await self._json_sent(scope, record, send):
            return
        try:
            body = await read_body(receive, self.transport.max_body_bytes)
            message = messages.parse(body, max_depth=self.transport.max_json_depth)
        except BodyTooLarge as exc:
            record.end(Outcome.BAD_REQUEST, str(exc))
            await send_json(
                send, 413, {"error": "request_too_large", "error_description": str(exc)}
            )
            return
        except messages.BadMessage as exc:
            record.end(Outcome.BAD_REQUEST, exc.message)
            await send_json(send, 400, jsonrpc_error(exc.request_id, exc.code, exc.message))
            return
        messages.keep(scope, message)
        with continued(message.payload):
            await self._serve(scope, replay(body, receive), send, record, message)

    async def _caller(self, scope: Scope, record: CallRecord) -> Refused | None:
        """The caller its bearer token names, or why there is none."""
        credentials = header(scope, b"authorization") or ""
        if credentials[:7].lower() != "bearer ":
            return Unauthenticated("no bearer token", error=None)
        token = credentials[7:]
        verified = await self.auth.verified(token)
        if verified is not None:
            record.caller = verified.caller
            record.subject_token = SecretStr(token)
            return None
        if record.auth_refusal == ISSUER_UNAVAILABLE:
            return IssuerUnavailable()
        return Unauthenticated(record.auth_refusal or "invalid token")

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        record: CallRecord,
        message: messages.Message,
    ) -> None:
        """A parsed message: a request naming a plugin's target admitted (or refused) first,
        then answered."""
        target = message.target
        if target is None:
            if self.asking is not None and await self._for_asking(record, message, send):
                return
            if message.method in LIST_METHODS:
                verdict = await self.policy.admit_list(record, message.method)
                if verdict is not None:
                    await self.answers.send(send, verdict, message.id)
                    return
            await self.app(scope, receive, send)
            return
        record.kind = target.action
        verdict = await self.policy.admit(record, target.name, target.arguments, target.kind)
        if verdict is not None:
            await self.answers.send(send, verdict, message.id)
            return
        fast_path = self.fast_path
        reply = fast_path.reply_for(scope, message) if fast_path else None
        # Prompts, resources and completions are answered by FastMCP's transport.
        if fast_path is None or reply is None:
            await self.app(scope, receive, self._verdict_while_running(record, message, send))
            return
        await fast_path.serve(record, message, reply, send, self.answers)

    async def _for_asking(self, record: CallRecord, message: messages.Message, send: Send) -> bool:
        """What questions asked on a call's stream need of other messages: a client's
        ``initialize`` says whether it can answer; a response to a question is the answer,
        delivered to the waiting call (202) when this caller was asked it, else refused (404).
        True when the message is answered here."""
        assert self.asking is not None and record.caller is not None
        if message.method == "initialize":
            await self.asking.remember(record.caller, message.payload.get("params"))
            return False
        if not is_answer(message.payload):
            return False
        try:
            await self.asking.deliver(record.caller, message.payload)
        except Undeliverable:
            text = "no question of yours waits for this answer (unknown, answered or expired)"
            await send_json(send, 404, jsonrpc_error(None, INVALID_REQUEST, text))
        except AnswersUnavailable:
            text = "the answer cannot be delivered right now; send it again"
            await send_json(send, 503, jsonrpc_error(None, UNAVAILABLE, text), RETRY_SOON)
        else:
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        return True

    def _verdict_while_running(
        self, record: CallRecord, message: messages.Message, send: Send
    ) -> Send:
        """For a call FastMCP's transport answers: a refusal settled while it ran (a scope
        the tool asked for, a guardrail) is answered as the policy's verdict instead.

        The transport answers with one JSON document once the call is over, so when the
        response starts the record holds the call's verdict, if any. A request the transport
        itself refuses before the function runs (a tampered or expired ``requestState``, a
        header that contradicts the body) is settled as a bad request, so it is audited.
        """
        refused = False

        async def sending(event: Message) -> None:
            nonlocal refused
            if event["type"] == "http.response.start" and record.verdict is not None:
                refused = True
                await self.answers.send(send, record.verdict, message.id)
                return
            if event["type"] == "http.response.start" and event["status"] >= 400:
                record.end(Outcome.BAD_REQUEST, f"refused by the transport ({event['status']})")
            if not refused:
                await send(event)

        return sending

    async def _transport_allows(self, scope: Scope, record: CallRecord, send: Send) -> bool:
        """Refuse what the stateless transport never serves, before looking at the token."""
        if scope["method"] != "POST":
            record.end(Outcome.BAD_REQUEST, f"method {scope['method']}")
            await send_json(
                send,
                405,
                {
                    "error": "method_not_allowed",
                    "error_description": "this server is stateless: send each message as a POST",
                },
                [(b"allow", b"POST")],
            )
            return False
        if _token_in_query(scope):
            record.refuse(TOKEN_IN_URL)
            await self.answers.send(send, TOKEN_IN_URL)
            return False
        version = header(scope, b"mcp-protocol-version")
        if version is not None and version not in SUPPORTED_PROTOCOL_VERSIONS:
            record.end(Outcome.BAD_REQUEST, "unsupported protocol version")
            supported = list(SUPPORTED_PROTOCOL_VERSIONS)
            await send_json(
                send,
                400,
                jsonrpc_error(
                    None,
                    UNSUPPORTED_PROTOCOL_VERSION,
                    f"unsupported MCP-Protocol-Version {version[:40]!r}; this server speaks "
                    + ", ".join(supported),
                    {"supported": supported, "requested": version[:40]},
                ),
            )
            return False
        return True

    async def _json_sent(self, scope: Scope, record: CallRecord, send: Send) -> bool:
        """The transport reads JSON only; say so in JSON rather than its plain-text 400."""
        media = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if media != "application/json":
            record.end(Outcome.BAD_REQUEST, "content type")
            await send_json(
                send,
                415,
                jsonrpc_error(
                    None, INVALID_REQUEST, "send the message as Content-Type: application/json"
                ),
            )
            return False
        return True


def _token_in_query(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    if not query:
        return False
    return any(key == "access_token" for key, _ in parse_qsl(query))
