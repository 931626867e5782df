"""Request ids and structured JSON logs.

Every HTTP request gets an id (the caller's ``X-Request-ID`` when it is sane, else a new one),
echoed in the response and attached to every log line and audit record made while serving it,
so an operator can go from an agent's error message to the traceback in one search. A traced
request's lines also carry its trace id, as its audit record does, so the three can be joined.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plughost.ops.refusal_logs import quiet_refusals

request_id: ContextVar[str | None] = ContextVar("plughost_request_id", default=None)
#: The request's trace id, once it is traced (`plughost.ops.tracing`): on its log lines too.
trace_id: ContextVar[str | None] = ContextVar("plughost_trace_id", default=None)

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}

log = logging.getLogger("plughost.http")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, trace id (when the
    request is traced), extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        tid = trace_id.get()
        if tid:
            entry["trace_id"] = tid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route every logger (ours, FastMCP's, uvicorn's) through one handler on stderr, FastMCP's
    lines for refusals at INFO (`plughost.ops.refusal_logs`)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "fastmcp", "mcp"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    quiet_refusals()


class RequestLog:
    """Outermost middleware: assigns the request id and logs one line per request.

    The logged path never includes the query string: a misbehaving client may put a token
    there, and it must not reach a log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _SANE_ID.fullmatch(given) else secrets.token_hex(16)
        token = request_id.set(rid)
        traced = trace_id.set(None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                ms = round((time.perf_counter() - started) * 1000, 2)
                path = scope["path"]
                log.info(
                    "%s %s %s", scope["method"], path, status, extra={"status": status, "ms": ms}
                )
            trace_id.reset(traced)
            request_id.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
