"""Per-tool scope enforcement, at the HTTP layer and again inside FastMCP.

`ScopeGate` is ASGI middleware that runs after authentication and before the MCP endpoint. It
refuses tokens in the query string, and answers a ``tools/call`` whose token lacks the tool's
scopes with HTTP 403 and an ``insufficient_scope`` challenge (MCP authorization spec), before
the tool runs. `ScopeFilter` is FastMCP middleware: ``tools/list`` shows a caller only the tools
its scopes allow, and a call that somehow got past the gate is still refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import Middleware, MiddlewareContext
from starlette.authentication import UnauthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plughost.scopes import missing_scopes

INSUFFICIENT_SCOPE = -32003  # JSON-RPC server-defined error range


class ScopeGate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        mcp_path: str,
        required_scopes: Mapping[str, Sequence[str]],
        resource_metadata_url: str,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.mcp_path = mcp_path
        self.required = required_scopes
        self.metadata_url = resource_metadata_url
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.mcp_path:
            await self.app(scope, receive, send)
            return
        if _has_query_token(scope.get("query_string", b"")):
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
        if scope["method"] != "POST" or user is None or isinstance(user, UnauthenticatedUser):
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
        refusal = self._refusal(body, set(getattr(user, "scopes", ())))
        if refusal is not None:
            request_id, tool, missing, needed = refusal
            await _respond(
                send,
                403,
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {
                        "code": INSUFFICIENT_SCOPE,
                        "message": f"insufficient scope for {tool}: missing {' '.join(missing)}",
                        "data": {"tool": tool, "required": needed, "missing": missing},
                    },
                },
                f'Bearer error="insufficient_scope", scope="{" ".join(needed)}", '
                f'resource_metadata="{self.metadata_url}", '
                f'error_description="the token lacks scope(s) {" ".join(missing)}"',
            )
            return
        await self.app(scope, _replay(body, receive), send)

    def _refusal(
        self, body: bytes, granted: set[str]
    ) -> tuple[Any, str, list[str], list[str]] | None:
        try:
            payload = json.loads(body)
        except ValueError:
            return None  # FastMCP answers malformed JSON-RPC itself
        for message in payload if isinstance(payload, list) else [payload]:
            if not isinstance(message, dict) or message.get("method") != "tools/call":
                continue
            params = message.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            needed = self.required.get(name) if isinstance(name, str) else None
            if needed is None:
                continue
            missing = missing_scopes(needed, granted)
            if missing:
                return message.get("id"), name, missing, list(needed)
        return None


class ScopeFilter(Middleware):
    """Hide tools the caller cannot call; refuse calls the gate did not see (in-process)."""

    def __init__(self, required_scopes: Mapping[str, Sequence[str]], *, list_all: bool) -> None:
        self.required = required_scopes
        self.list_all = list_all

    async def on_list_tools(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        tools = await call_next(context)
        if self.list_all:
            return tools
        granted = _granted()
        return [t for t in tools if not missing_scopes(self.required.get(t.name, ()), granted)]

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: Callable[..., Any]
    ) -> Any:
        needed = self.required.get(context.message.name, ())
        missing = missing_scopes(needed, _granted())
        if missing:
            raise ToolError(f"insufficient scope: missing {' '.join(missing)}")
        return await call_next(context)


def _granted() -> set[str]:
    token = get_access_token()
    return set(token.scopes) if token is not None else set()


def _has_query_token(query: bytes) -> bool:
    from urllib.parse import parse_qsl

    return any(key == "access_token" for key, _ in parse_qsl(query.decode("latin-1")))


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
    send: Send, status: int, body: dict[str, Any], challenge: str | None = None
) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if challenge:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
