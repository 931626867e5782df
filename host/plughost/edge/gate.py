"""What happens to an MCP request over HTTP before FastMCP sees it.

`RequestGate` is ASGI middleware between authentication and the MCP endpoint. It refuses
tokens in the query string, caps the body size, and for every ``tools/call`` checks, before
the tool runs, that the token carries the tool's scopes (else HTTP 403 with an
``insufficient_scope`` challenge, as the MCP authorization spec asks) and that the client is
within its rate limit (else HTTP 429 with ``Retry-After``). Every refusal is audited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.authentication import UnauthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plughost.auth.provider import CallerToken, refusal_reason
from plughost.core.naming import missing_scopes
from plughost.ops.audit import AuditRecord, AuditTrail, Outcome
from plughost.ops.logs import request_id
from plughost.ops.metrics import Metrics
from plughost.ops.ratelimit import RateLimiter

INSUFFICIENT_SCOPE = -32003  # JSON-RPC server-defined error range
RATE_LIMITED = -32029


class RequestGate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        mcp_path: str,
        required_scopes: Mapping[str, Sequence[str]],
        tool_owner: Mapping[str, str],
        plugin_versions: Mapping[str, str],
        resource_metadata_url: str,
        max_body_bytes: int,
        limiter: RateLimiter,
        audit: AuditTrail,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.mcp_path = mcp_path
        self.required = required_scopes
        self.owner = tool_owner
        self.versions = plugin_versions
        self.metadata_url = resource_metadata_url
        self.max_body = max_body_bytes
        self.limiter = limiter
        self.audit = audit
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.mcp_path:
            await self.app(scope, receive, send)
            return
        if any(
            key == "access_token"
            for key, _ in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        ):
            self._refused_auth("token in query string")
            await _respond(
                send,
                401,
                {
                    "error": "invalid_request",
                    "error_description": "send the token in the Authorization header, not the URL",
                },
                f'Bearer error="invalid_request", resource_metadata="{self.metadata_url}"',
            )
            return
        user = scope.get("user")
        if user is None or isinstance(user, UnauthenticatedUser):
            await self.app(scope, receive, self._watch_for_401(send))
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, too_large = await _read_body(receive, self.max_body)
        if too_large:
            await _respond(
                send,
                413,
                {
                    "error": "request_too_large",
                    "error_description": f"body over {self.max_body} bytes",
                },
            )
            return
        token = getattr(user, "access_token", None)
        calls = _tool_calls(body)
        for message in calls:
            if not await self._admit(message, token, send):
                return
        if calls:
            send = self._scope_refusals_as_403(calls[0], send)
        await self.app(scope, _replay(body, receive), send)

    async def _admit(self, message: dict[str, Any], token: Any, send: Send) -> bool:
        """Check one tools/call; answer the refusal and return False if it may not run."""
        name = message["params"]["name"]
        needed = list(self.required.get(name, ()))
        caller = token.caller if isinstance(token, CallerToken) else None
        missing = missing_scopes(needed, token.scopes if token else ())
        if missing:
            self._record(caller, name, needed, Outcome.DENIED, f"missing {' '.join(missing)}")
            await self._refuse_scope(send, message, needed, missing)
            return False
        if name not in self.required or caller is None:
            return True  # unknown tools are FastMCP's to refuse
        retry_after = await self.limiter.hit(caller.client_id or caller.subject, name)
        if retry_after is None:
            return True
        self.metrics.rate_limited.labels(tool=name).inc()
        self._record(caller, name, needed, Outcome.RATE_LIMITED, f"retry after {retry_after:.0f}s")
        await _respond(
            send,
            429,
            _jsonrpc_error(
                message,
                RATE_LIMITED,
                f"rate limit reached for {name}; retry later",
                {"tool": name, "retry_after": retry_after},
            ),
            extra_headers=[(b"retry-after", str(int(retry_after)).encode())],
        )
        return False

    def _scope_refusals_as_403(self, message: dict[str, Any], send: Send) -> Send:
        """Turn a tool's own `InsufficientScope` into the same 403 challenge the gate gives.

        Responses are single JSON documents (stateless, JSON mode), so holding one back until
        it is complete costs nothing a client could notice.
        """
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(event: Message) -> None:
            nonlocal start
            if event["type"] == "http.response.start":
                start = event
                return
            if event["type"] != "http.response.body" or start is None:
                await send(event)
                return
            chunks.append(event.get("body", b""))
            if event.get("more_body", False):
                return
            body = b"".join(chunks)
            missing = _missing_from_result(body)
            if missing is None:
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            needed = [*self.required.get(message["params"]["name"], ())]
            await self._refuse_scope(
                send, message, list(dict.fromkeys([*needed, *missing])), missing
            )

        return buffered

    async def _refuse_scope(
        self, send: Send, message: dict[str, Any], needed: list[str], missing: list[str]
    ) -> None:
        """HTTP 403 with the ``insufficient_scope`` challenge and a JSON-RPC error naming both."""
        name = message["params"]["name"]
        await _respond(
            send,
            403,
            _jsonrpc_error(
                message,
                INSUFFICIENT_SCOPE,
                f"insufficient scope for {name}: missing {' '.join(missing)}",
                {"tool": name, "required": needed, "missing": missing},
            ),
            f'Bearer error="insufficient_scope", scope="{" ".join(needed)}", '
            f'resource_metadata="{self.metadata_url}", '
            f'error_description="the token lacks scope(s) {" ".join(missing)}"',
        )

    def _watch_for_401(self, send: Send) -> Send:
        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self._refused_auth(refusal_reason.get() or "no bearer token")
            await send(message)

        return watching

    def _refused_auth(self, reason: str) -> None:
        self.metrics.auth_failures.labels(reason=reason).inc()
        self.audit.record(
            AuditRecord(request_id=request_id.get(), outcome=Outcome.UNAUTHENTICATED, detail=reason)
        )

    def _record(
        self, caller: Any, tool: str, needed: list[str], outcome: Outcome, detail: str
    ) -> None:
        plugin = self.owner.get(tool)
        self.audit.record(
            AuditRecord(
                request_id=request_id.get(),
                subject=getattr(caller, "subject", None),
                client_id=getattr(caller, "client_id", None),
                tenant=getattr(caller, "tenant_id", None),
                tool=tool,
                plugin=plugin,
                plugin_version=self.versions.get(plugin or ""),
                required_scopes=needed,
                outcome=outcome,
                detail=detail,
            )
        )
        self.metrics.calls.labels(tool=tool, outcome=outcome.value).inc()


def _tool_calls(body: bytes) -> list[dict[str, Any]]:
    try:
        payload = json.loads(body)
    except ValueError:
        return []  # FastMCP answers malformed JSON-RPC itself
    calls = []
    for message in payload if isinstance(payload, list) else [payload]:
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                calls.append(message)
    return calls


def _missing_from_result(body: bytes) -> list[str] | None:
    """The scopes a tool said were missing, if its result is an `InsufficientScope` error."""
    if b'"insufficient_scope"' not in body:
        return None
    try:
        result = json.loads(body).get("result") or {}
    except (ValueError, AttributeError):
        return None
    error = (result.get("structuredContent") or {}).get("error") or {}
    if not result.get("isError") or error.get("code") != "insufficient_scope":
        return None
    missing = (error.get("details") or {}).get("missing_scopes")
    return [s for s in missing if isinstance(s, str)] if isinstance(missing, list) else None


def _jsonrpc_error(
    message: dict[str, Any], code: int, text: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": message.get("id"),
        "error": {"code": code, "message": text, "data": data},
    }


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _respond(
    send: Send,
    status: int,
    body: dict[str, Any],
    challenge: str | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
        *(extra_headers or []),
    ]
    if challenge:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
