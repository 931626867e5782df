"""Answer a repeated ``tools/list`` with the answer FastMCP gave the same question before.

Listing goes through FastMCP and the MCP SDK in full each time: every tool converted, the result
validated and dumped again. With a thousand tools that takes tens of milliseconds of CPU, while
the answer cannot change: the tool set is fixed once the host serves (it only shrinks, when a
plugin is withdrawn at start-up), and what a caller sees depends only on its scopes. So the
first answer to a question is kept and replayed with the new request's id.

"The same question" is strict: the same granted scopes, the same JSON-RPC message apart from
its id, and the same values of every header the transport reads (``Accept``, ``Content-Type``,
``Host``, ``Origin`` and the ``Mcp-*`` headers). Only complete HTTP 200 answers carrying a
JSON-RPC result are kept; anything else, and every other method, goes through untouched.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sized
from typing import Any

from starlette.authentication import UnauthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KEYED_HEADERS = (b"accept", b"content-type", b"host", b"origin")

Key = tuple[Any, ...]


class ToolListCache:
    def __init__(
        self,
        app: ASGIApp,
        *,
        mcp_path: str,
        tools: Sized,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.mcp_path = mcp_path
        self.tools = tools
        self.max_bytes = max_bytes
        self._answers: OrderedDict[Key, tuple[list[tuple[bytes, bytes]], bytes]] = OrderedDict()
        self._bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].rstrip("/") != self.mcp_path
        ):
            await self.app(scope, receive, send)
            return
        user = scope.get("user")
        token = getattr(user, "access_token", None)
        if token is None or isinstance(user, UnauthenticatedUser):
            await self.app(scope, receive, send)
            return
        first = await receive()
        body = first.get("body", b"")
        if first["type"] != "http.request" or first.get("more_body") or b"tools/list" not in body:
            await self.app(scope, _replay(first, receive), send)
            return
        question = _list_request(body)
        if question is None:
            await self.app(scope, _replay(first, receive), send)
            return
        request_id, rest = question
        key = (frozenset(token.scopes), len(self.tools), rest, _keyed_headers(scope))
        kept = self._answers.get(key)
        if kept is not None:
            self._answers.move_to_end(key)
            await _answer(send, kept[0], request_id, kept[1])
            return
        await self.app(scope, _replay(first, receive), self._keeping(key, send))

    def _keeping(self, key: Key, send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []

        async def keeping(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._keep(key, start, b"".join(chunks))
            await send(message)

        return keeping

    def _keep(self, key: Key, start: Message, body: bytes) -> None:
        if start["status"] != 200:
            return
        try:
            payload = json.loads(body)
        except ValueError:
            return
        if not isinstance(payload, dict) or "result" not in payload or "error" in payload:
            return
        result = json.dumps(payload["result"], ensure_ascii=False, separators=(",", ":")).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        self._answers[key] = (headers, result)
        self._bytes += len(result)
        while self._bytes > self.max_bytes and self._answers:
            _, (_, dropped) = self._answers.popitem(last=False)
            self._bytes -= len(dropped)


def _list_request(body: bytes) -> tuple[Any, str] | None:
    """The id and the rest (canonical JSON) of a single ``tools/list`` request, else None."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/list":
        return None
    request_id = message.pop("id", None)
    if request_id is None or isinstance(request_id, bool | float | dict | list):
        return None
    return request_id, json.dumps(message, sort_keys=True, separators=(",", ":"))


def _keyed_headers(scope: Mapping[str, Any]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple(
        sorted(
            (name, value)
            for name, value in scope.get("headers", [])
            if name in KEYED_HEADERS or name.startswith(b"mcp-")
        )
    )


async def _answer(
    send: Send, headers: list[tuple[bytes, bytes]], request_id: Any, result: bytes
) -> None:
    body = b'{"jsonrpc":"2.0","id":' + json.dumps(request_id).encode() + b',"result":' + result
    body += b"}"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _replay(first: Message, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return first
        return await receive()

    return replay
