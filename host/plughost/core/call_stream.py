"""`CallStream`: what a running call tells its client before it answers.

A tool's progress and log messages (`ToolContext.progress`, `ToolContext.log`) become MCP
notifications on the call's own response stream, for a client that reads
``text/event-stream``. Nothing is streamed until the tool says something: a call that never
does is answered with plain JSON, as before. The tool may speak from any thread (sync tools
run on worker threads, async ones on their plugin's loop); each message is handed to the
host's loop and written, in order, by one writer. It never blocks the tool: past
`MAX_PENDING` unwritten messages, the rest are dropped (and counted in the log). A question
the host asks the client for the tool (`request`) goes the same way, never dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Any

from starlette.types import Send

log = logging.getLogger("plughost.stream")

#: Messages kept waiting for a slow client before more are dropped.
MAX_PENDING = 256

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-store"),
    (b"x-accel-buffering", b"no"),
]


def sse_event(message: bytes) -> bytes:
    """One JSON-RPC message (serialised) as a server-sent event, as the MCP transport writes
    them."""
    return b"event: message\ndata: " + message + b"\n\n"


def _dumped(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


class CallStream:
    """Notifications of one call, written to ``send`` once the first one comes."""

    def __init__(self, send: Send, progress_token: str | int | None, logger: str) -> None:
        self._send = send
        self._token = progress_token
        self._logger = logger
        self._loop = asyncio.get_running_loop()
        self._pending: deque[dict[str, Any]] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self.dropped = 0

    @property
    def started(self) -> bool:
        """Whether the response has begun as a stream (the answer must follow on it)."""
        return self._writer is not None

    def progress(self, done: float, total: float | None, message: str | None) -> None:
        if self._token is None:
            return
        params: dict[str, Any] = {"progressToken": self._token, "progress": done}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        self._post({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})

    def log(self, level: str, data: Any) -> None:
        params = {"level": level, "logger": self._logger, "data": data}
        self._post({"jsonrpc": "2.0", "method": "notifications/message", "params": params})

    def request(self, message: dict[str, Any]) -> None:
        """A request to the client (a question, `plughost.core.stream_asking`), from the
        host's loop: never dropped (a call asks few), and it starts the stream."""
        self._append(message)

    def _append(self, message: dict[str, Any]) -> None:
        self._pending.append(message)
        self._wake.set()
        if self._writer is None:
            self._writer = self._loop.create_task(self._write())

    def _post(self, message: dict[str, Any]) -> None:
        """From any thread: hand ``message`` to the host's loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._enqueue(message)
        else:
            self._loop.call_soon_threadsafe(self._enqueue, message)

    def _enqueue(self, message: dict[str, Any]) -> None:
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._append(message)

    async def _write(self) -> None:
        """Start the event stream, then write messages as they come (one writer: in order)."""
        await self._send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        while True:
            while self._pending:
                event = sse_event(_dumped(self._pending.popleft()))
                await self._send({"type": "http.response.body", "body": event, "more_body": True})
            if self._closing:
                return
            self._wake.clear()
            await self._wake.wait()

    async def finish(self, answer: bytes) -> None:
        """Write what is still pending, then the call's answer, and end the stream."""
        writer = self._writer
        assert writer is not None
        self._closing = True
        self._wake.set()
        await writer
        await self._send(
            {"type": "http.response.body", "body": sse_event(answer), "more_body": False}
        )
        if self.dropped:
            log.warning("%d progress/log message(s) of a call were dropped", self.dropped)

    def abandon(self) -> None:
        """The request ended without an answer (the client left): stop writing."""
        self._closing = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
