"""Answer a repeated ``tools/list`` with the answer FastMCP gave the same question before.

Listing goes through FastMCP and the MCP SDK in full each time: every tool converted, the result
validated and dumped again. With a thousand tools that takes tens of milliseconds of CPU, while
the answer rarely changes: the tool set changes only when the registry's generation moves (a
plugin withdrawn at start-up, a mount listed again), which is part of the key, and what a
caller sees depends only on its scopes. So the first answer to a question is kept and
replayed with the new request's id.

"The same question" is strict: the same granted scopes, the same JSON-RPC message apart from
its id, and the same values of every header the transport reads (``Accept``, ``Content-Type``,
``Host``, ``Origin`` and the ``Mcp-*`` headers). Only complete HTTP 200 answers carrying a
JSON-RPC result are kept; anything else, and every other method, goes through untouched. The
message is the one the gate parsed; the answer is kept as FastMCP's bytes, never re-encoded.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plughost.core.callrecord import current_call
from plughost.core.registry import ToolRegistry
from plughost.edge.message import message_of

KEYED_HEADERS = (b"accept", b"content-type", b"host", b"origin")

Key = tuple[Any, ...]


class ToolListCache:
    def __init__(
        self,
        app: ASGIApp,
        *,
        registry: ToolRegistry,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.registry = registry
        self.max_bytes = max_bytes
        self._answers: OrderedDict[Key, tuple[list[tuple[bytes, bytes]], bytes]] = OrderedDict()
        self._bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key_and_id = self._question(scope)
        if key_and_id is None:
            await self.app(scope, receive, send)
            return
        key, request_id = key_and_id
        kept = self._answers.get(key)
        if kept is not None:
            self._answers.move_to_end(key)
            await _answer(send, kept[0], request_id, kept[1])
            return
        await self.app(scope, receive, self._keeping(key, request_id, send))

    def _question(self, scope: Scope) -> tuple[Key, Any] | None:
        """The cache key and request id of a cacheable ``tools/list``, else None."""
        message = message_of(scope)
        record = current_call.get()
        if message is None or message.method != "tools/list" or record is None:
            return None
        request_id = message.id
        if record.caller is None or request_id is None:
            return None
        if isinstance(request_id, bool | float | dict | list):
            return None
        rest = {k: v for k, v in message.payload.items() if k != "id"}
        key = (
            record.caller.scopes,
            self.registry.generation,
            json.dumps(rest, sort_keys=True, separators=(",", ":")),
            _keyed_headers(scope),
        )
        return key, request_id

    def _keeping(self, key: Key, request_id: Any, send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []

        async def keeping(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._keep(key, request_id, start, b"".join(chunks))
            await send(message)

        return keeping

    def _keep(self, key: Key, request_id: Any, start: Message, body: bytes) -> None:
        """Keep the part of a successful answer after its id: ``"result":{...}}``."""
        prefix = _prefix(request_id) + b',"result":'
        if start["status"] != 200 or not body.startswith(prefix) or not body.endswith(b"}"):
            return
        result = body[len(prefix) : -1]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        self._answers[key] = (headers, result)
        self._bytes += len(result)
        while self._bytes > self.max_bytes and self._answers:
            _, (_, dropped) = self._answers.popitem(last=False)
            self._bytes -= len(dropped)


def _prefix(request_id: Any) -> bytes:
    return b'{"jsonrpc":"2.0","id":' + json.dumps(request_id, separators=(",", ":")).encode()


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
    body = _prefix(request_id) + b',"result":' + result + b"}"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
