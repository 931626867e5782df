"""The host's end of a worker's stdio: MCP's JSON-RPC messages, one per line, never blocking.

Every read and write is async on the host's event loop, so a worker that stalls, floods or
dies cannot hold the loop. A request waits only for its own answer; when the worker's stdout
ends (it exited, crashed or was killed) every waiting request ends at once with `WorkerGone`,
not at its deadline. The pipe is deliberately small (a dict of waiters, ``json`` both ways):
the host only ever sends requests it chose, and each isolated call crosses it twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

log = logging.getLogger("plughost.isolation")

#: A line longer than this from a worker ends its pipe (it is broken or hostile).
MAX_LINE_BYTES = 64 * 1024 * 1024


class WorkerGone(Exception):
    """The worker's pipe ended before the answer came."""


class WorkerError(Exception):
    """The worker answered a request with a JSON-RPC error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", "error")))
        self.error = error


def message_of(line: bytes, sender: str, logger: logging.Logger) -> dict[str, Any] | None:
    """The JSON-RPC message on one line of the pipe, or None for a line that holds none: both
    ends drop such a line (logging one that is not JSON) rather than end their reader."""
    try:
        message = json.loads(line)
    except ValueError:
        logger.warning("%s wrote a line that is not JSON; ignored", sender)
        return None
    return message if isinstance(message, dict) else None


@dataclass
class _Waiter:
    done: anyio.Event = field(default_factory=anyio.Event)
    message: dict[str, Any] | None = None


#: Handles a message the worker sent of its own (a notification or request about a call).
OnMessage = Callable[["Pipe", dict[str, Any]], None]


class Pipe:
    """JSON-RPC requests to one worker process over its stdin and stdout."""

    def __init__(self, send: ByteSendStream, receive: ByteReceiveStream) -> None:
        self._send, self._receive = send, receive
        self._waiters: dict[int, _Waiter] = {}
        #: What each request in flight is for (a call's record), by request id.
        self._calls: dict[int, object] = {}
        #: Where the worker's own messages go (`plughost.core.isolation.relay`); else dropped.
        self.on_message: OnMessage | None = None
        self._next_id = 0
        self._lock = anyio.Lock()
        self.closed = False

    async def read(self) -> None:
        """Deliver the worker's answers until its stdout ends; then fail every waiter."""
        buffer = b""
        try:
            async for chunk in self._receive:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._deliver(line)
                if len(buffer) > MAX_LINE_BYTES:
                    log.error("a worker sent a line over %d bytes; its pipe is closed", len(buffer))
                    break
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """End the pipe: every request still waiting ends with `WorkerGone`."""
        self.closed = True
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.done.set()

    def _deliver(self, line: bytes) -> None:
        message = message_of(line, "a worker", log)
        if message is None:
            return
        if "method" in message:
            if self.on_message is not None:
                self.on_message(self, message)
            return
        request_id = message.get("id")
        waiter = self._waiters.pop(request_id, None) if isinstance(request_id, int) else None
        if waiter is not None and ("result" in message or "error" in message):
            waiter.message = message
            waiter.done.set()

    def call(self, request_id: Any) -> object | None:
        """What the request ``request_id`` in flight on this pipe is for (None when no such
        request is in flight, or it was sent for nothing in particular)."""
        return self._calls.get(request_id) if isinstance(request_id, int) else None

    async def request(
        self, method: str, params: dict[str, Any], *, call: object | None = None
    ) -> dict[str, Any]:
        """Send a request and wait for its result; cancelled, it tells the worker so.
        ``call`` is what the worker's messages naming this request while it is in flight are
        about (`call`)."""
        if self.closed:
            raise WorkerGone("the worker is not running")
        self._next_id += 1
        request_id, waiter = self._next_id, _Waiter()
        self._waiters[request_id] = waiter
        if call is not None:
            self._calls[request_id] = call
        try:
            await self.notify(method, params, request_id=request_id)
            await waiter.done.wait()
        except BaseException:
            if self._waiters.pop(request_id, None) is not None and not self.closed:
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    reason = {"requestId": request_id, "reason": "deadline"}
                    await self.notify("notifications/cancelled", reason)
            raise
        finally:
            self._calls.pop(request_id, None)
        if waiter.message is None:
            raise WorkerGone("the worker ended before answering")
        if "error" in waiter.message:
            raise WorkerError(waiter.message["error"])
        result: dict[str, Any] = waiter.message["result"]
        return result

    async def notify(
        self, method: str, params: dict[str, Any] | None, *, request_id: int | None = None
    ) -> None:
        """Write one message (a request when ``request_id`` is given)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if request_id is not None:
            message["id"] = request_id
        if params is not None:
            message["params"] = params
        await self._write(message)

    async def answer(self, request_id: Any, reply: dict[str, Any]) -> None:
        """Answer a request of the worker's with ``reply`` (its ``result`` or ``error``); a
        worker that is gone is not answered."""
        with suppress(WorkerGone):
            await self._write({"jsonrpc": "2.0", "id": request_id, **reply})

    async def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        try:
            async with self._lock:
                await self._send.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self.close()
            raise WorkerGone("the worker's stdin is closed") from exc
