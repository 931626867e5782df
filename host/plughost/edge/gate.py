"""What happens to an MCP request over HTTP after authentication and before FastMCP sees it.

`RequestGate` sits between the bearer-token middleware and the MCP endpoint. It refuses tokens
in the query string, reads the body once (size-capped) and parses it once (depth-bounded), and
for every ``tools/call`` decides before anything runs: a tool that does not exist, or whose
plugin is not loaded, is refused as such; a token without the tool's scopes gets HTTP 403 with
the ``insufficient_scope`` challenge the MCP authorization spec asks for; a client over its
rate limit gets HTTP 429 with ``Retry-After``. A scope the tool itself asks for while running
comes back on the call record and gets the same 403. Every decision is noted on the call record,
which the recorder writes once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from mcp_types.jsonrpc import UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import SecretStr
from starlette.authentication import UnauthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plughost.auth.provider import CallerToken
from plughost.auth.verifier import ISSUER_UNAVAILABLE
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.naming import missing_scopes
from plughost.core.registry import RegisteredTool, ToolRegistry
from plughost.edge import message as messages
from plughost.edge.asgi import (
    DENIED_BY_RULE,
    INSUFFICIENT_SCOPE,
    INVALID_PARAMS,
    INVALID_REQUEST,
    RATE_LIMITED,
    UNAVAILABLE,
    BodyTooLarge,
    jsonrpc_error,
    read_body,
    replay,
    send_json,
)
from plughost.edge.fastpath import FastPath
from plughost.ops.audit import Outcome
from plughost.ops.metrics import Metrics
from plughost.ops.ratelimit import RateLimiter, RateLimitUnavailable
from plughost.ops.tracing import continued, step

log = logging.getLogger("plughost.gate")

#: Seconds a client is asked to wait when rate-limit storage is down and the policy is closed.
STORAGE_RETRY_AFTER = 5
#: Seconds a client is asked to wait when the token issuer cannot be reached.
ISSUER_RETRY_AFTER = 10


@dataclass(frozen=True)
class GatePolicy:
    """What the gate enforces, from the host's settings."""

    mcp_path: str
    resource_metadata_url: str
    max_body_bytes: int
    max_json_depth: int
    on_storage_error: str


class RequestGate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: GatePolicy,
        registry: ToolRegistry,
        limiter: RateLimiter,
        metrics: Metrics,
        fast_path: FastPath | None = None,
    ) -> None:
        self.app = app
        self.fast_path = fast_path
        self.policy = policy
        self.registry = registry
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.policy.mcp_path:
            await self.app(scope, receive, send)
            return
        record = current_call.get() or CallRecord(None)
        if not await self._transport_allows(scope, record, send):
            return
        user = scope.get("user")
        token = getattr(user, "access_token", None)
        if isinstance(user, UnauthenticatedUser) or not isinstance(token, CallerToken):
            # The bearer middleware answers 401; an issuer outage becomes a 503 on the way out.
            await self.app(scope, receive, self._issuer_outage_as_503(record, send))
            return
        record.caller = token.caller
        record.subject_token = SecretStr(token.token)
        if not await self._json_sent(scope, record, send):
            return
        try:
            body = await read_body(receive, self.policy.max_body_bytes)
            message = messages.parse(body, max_depth=self.policy.max_json_depth)
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

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, record: CallRecord, message: Any
    ) -> None:
        """A parsed message: a tools/call admitted (or refused) first, then answered."""
        name = message.tool_name
        if name is not None and not await self._admit(record, message, name, send):
            return
        if name is not None:
            send = self._refusals_from_the_tool(record, message, send)
            fast_path = self.fast_path
            if fast_path:
                version = fast_path.version_for(scope, message)
                if version is not None:
                    await fast_path.answer(message, version, send)
                    return
        await self.app(scope, receive, send)

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
            record.end(Outcome.UNAUTHENTICATED, "token in query string")
            await send_json(
                send,
                401,
                {
                    "error": "invalid_request",
                    "error_description": "send the token in the Authorization header, not the URL",
                },
                [(b"www-authenticate", self._challenge('error="invalid_request"'))],
            )
            return False
        version = _header(scope, b"mcp-protocol-version")
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
        media = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
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

    def _issuer_outage_as_503(self, record: CallRecord, send: Send) -> Send:
        """A 401 because no signing keys could be fetched blames the token for the issuer's
        outage, and clients would throw their tokens away: answer 503 with Retry-After."""
        replaced = False

        async def sending(event: Message) -> None:
            nonlocal replaced
            if event["type"] == "http.response.start" and event["status"] == 401:
                replaced = record.auth_refusal == ISSUER_UNAVAILABLE
                if replaced:
                    record.end(Outcome.UNAVAILABLE, ISSUER_UNAVAILABLE)
                    await send_json(
                        send,
                        503,
                        {
                            "error": "temporarily_unavailable",
                            "error_description": "the token issuer cannot be reached to check "
                            "tokens; retry shortly",
                        },
                        [(b"retry-after", str(ISSUER_RETRY_AFTER).encode())],
                    )
                    return
            if not replaced:
                await send(event)

        return sending

    async def _admit(self, record: CallRecord, message: Any, name: str, send: Send) -> bool:
        """Decide a tools/call before it runs; answer the refusal and return False if refused."""
        record.tool = messages.bounded_name(name)
        record.arguments = message.arguments
        entry = self.registry.get(name)
        record.registered = entry
        if entry is not None:
            missing = missing_scopes(entry.scopes, record.caller.scopes if record.caller else ())
            if missing:
                record.deny(missing)
                await self._refuse_scope(send, record, message, entry, missing)
                return False
        if not await self._within_rate(record, message, name, send):
            return False
        if entry is None:
            await self._refuse_unknown(record, message, name, send)
            return False
        return True

    async def _within_rate(self, record: CallRecord, message: Any, name: str, send: Send) -> bool:
        caller = record.caller
        assert caller is not None
        with step("rate limit") as span:
            try:
                retry_after = await self.limiter.hit(
                    client=caller.client_id, subject=caller.subject, tool=name
                )
            except RateLimitUnavailable as exc:
                span.set_attribute("plughost.rate_limit.result", "unavailable")
                return await self._storage_failed(record, message, exc, send)
            span.set_attribute(
                "plughost.rate_limit.result", "allowed" if retry_after is None else "limited"
            )
        if retry_after is None:
            return True
        record.end(Outcome.RATE_LIMITED, f"retry after {retry_after:.0f}s")
        await send_json(
            send,
            429,
            jsonrpc_error(
                message.id,
                RATE_LIMITED,
                f"rate limit reached for {record.tool}; retry later",
                {"tool": record.tool, "retry_after": retry_after},
            ),
            [(b"retry-after", str(int(retry_after)).encode())],
        )
        return False

    async def _storage_failed(
        self, record: CallRecord, message: Any, exc: RateLimitUnavailable, send: Send
    ) -> bool:
        """The stated policy when rate-limit storage is down: open (proceed, marked) or closed."""
        self.metrics.rate_limit_storage_errors.inc()
        if not exc.skipped:
            log.warning("%s (policy: fail %s)", exc, self.policy.on_storage_error)
        if self.policy.on_storage_error == "open":
            skipped = " (not tried: it failed moments ago)" if exc.skipped else ""
            record.notes.append(f"rate limit not checked: storage unavailable{skipped}")
            return True
        record.end(Outcome.UNAVAILABLE, "rate-limit storage unavailable")
        await send_json(
            send,
            503,
            jsonrpc_error(
                message.id,
                UNAVAILABLE,
                "the server cannot check rate limits right now; retry shortly",
                {"retry_after": STORAGE_RETRY_AFTER},
            ),
            [(b"retry-after", str(STORAGE_RETRY_AFTER).encode())],
        )
        return False

    async def _refuse_unknown(
        self, record: CallRecord, message: Any, name: str, send: Send
    ) -> None:
        """A name no loaded plugin serves: say whether its plugin failed to load."""
        plugin = self.registry.refused_owner(name)
        if plugin is None:
            record.end(Outcome.UNKNOWN_TOOL, "unknown tool")
            text, data = f"Unknown tool: {record.tool!r}", {"tool": record.tool}
        else:
            record.plugin = plugin
            record.end(Outcome.PLUGIN_NOT_LOADED, f"plugin {plugin} not loaded")
            text = f"tool {record.tool!r} belongs to plugin {plugin!r}, which is not loaded here"
            data = {"tool": record.tool, "plugin": plugin, "reason": "plugin not loaded"}
        await send_json(send, 200, jsonrpc_error(message.id, INVALID_PARAMS, text, data))

    def _refusals_from_the_tool(self, record: CallRecord, message: Any, send: Send) -> Send:
        """Answer a scope the tool asked for while running, or a guardrail's refusal, with the
        gate's own 403.

        The tool has finished when the response starts (responses are single JSON documents),
        so the call record already says whether it asked for a scope the caller lacks or a
        guardrail refused it.
        """
        refused = False

        async def sending(event: Message) -> None:
            nonlocal refused
            if event["type"] == "http.response.start" and record.refusal is not None:
                refused = True
                await self._refuse_by_rule(send, record, message)
                return
            if event["type"] == "http.response.start" and record.missing_scopes:
                refused = True
                entry = record.registered
                assert entry is not None
                await self._refuse_scope(send, record, message, entry, list(record.missing_scopes))
                return
            if not refused:
                await send(event)

        return sending

    async def _refuse_scope(
        self,
        send: Send,
        record: CallRecord,
        message: Any,
        entry: RegisteredTool,
        missing: list[str],
    ) -> None:
        """HTTP 403 with the ``insufficient_scope`` challenge and a JSON-RPC error naming both.

        The challenge's ``scope`` is what the token already has plus what the call needs, so a
        client that replaces its scopes on step-up (rather than adding) keeps what it had.
        """
        needed = list(dict.fromkeys([*entry.scopes, *missing]))
        granted = sorted(record.caller.scopes) if record.caller else []
        challenge_scopes = " ".join(dict.fromkeys([*granted, *needed]))
        challenge = (
            f'Bearer error="insufficient_scope", scope="{challenge_scopes}", '
            f'resource_metadata="{self.policy.resource_metadata_url}", '
            f'error_description="the token lacks scope(s) {" ".join(missing)}"'
        ).encode()
        await send_json(
            send,
            403,
            jsonrpc_error(
                message.id,
                INSUFFICIENT_SCOPE,
                f"insufficient scope for {entry.name}: missing {' '.join(missing)}",
                {"tool": entry.name, "required": needed, "missing": missing},
            ),
            [(b"www-authenticate", challenge)],
        )

    async def _refuse_by_rule(self, send: Send, record: CallRecord, message: Any) -> None:
        """HTTP 403 with a JSON-RPC error naming the rule that refused the call and why."""
        refusal = record.refusal
        assert refusal is not None
        await send_json(
            send,
            403,
            jsonrpc_error(
                message.id,
                DENIED_BY_RULE,
                f"{record.tool} refused by rule {refusal.rule}: {refusal.reason}",
                {"tool": record.tool, "rule": refusal.rule, "reason": refusal.reason},
            ),
        )

    def _challenge(self, error: str) -> bytes:
        return f'Bearer {error}, resource_metadata="{self.policy.resource_metadata_url}"'.encode()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _token_in_query(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    return any(key == "access_token" for key, _ in parse_qsl(query))
