"""The worker's end of its pipes: MCP's JSON-RPC on stdin and stdout, one message a line.

The worker answers exactly what its host sends (``initialize``, ``ping``, ``tools/call``,
``notifications/cancelled``, and its plugin's resources, prompts and completions through
`worker_components.ComponentAnswers`) with the host's own code: a call's record from its ``_meta``
(`hosted.record_of`), the tool run as the host's fast path runs it (``Tool._run``: the same
adapter, validation and result conversion), the result as the SDK's handler writes it
(`wire_result`) with the outcome in its ``_meta``. It is not the MCP SDK's server session:
every isolated call crosses this loop, and the session's per-message models, streams and
task groups would more than double what an isolated call costs (bench/isolation.py).
Each request runs as a task of its own; a cancelled one gets no answer, as MCP says. What a
running tool says and asks (``ctx.progress``, ``ctx.log``, ``ctx.token_for``) goes to the host
through `host_link.HostLink`, naming the request it belongs to.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import anyio
from anyio.abc import TaskGroup
from fastmcp.exceptions import ValidationError
from fastmcp.tools import Tool
from fastmcp.tools.base import InputRequiredToolResult
from pydantic import ValidationError as PydanticValidationError

from plughost import __version__
from plughost.core.adapter import error_result, invalid_arguments
from plughost.core.asking import question_of
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.isolation.host_link import (
    ASKED_META,
    MAX_BUFFERED_BYTES,
    EarlierRounds,
    HostLink,
    ask_wire,
    host_call,
)
from plughost.core.isolation.hosted import OUTCOME_META, outcome_meta, record_of
from plughost.core.isolation.pipe import message_of
from plughost.core.isolation.worker_components import AnswerError, ComponentAnswers
from plughost.core.wire_results import dump, error_call_result, wire_result
from plughost.ops.audit import Outcome

log = logging.getLogger("plughost.worker")

_METHOD_NOT_FOUND = -32601
_INTERNAL_ERROR = -32603
#: A line from the host longer than this ends the worker (its host is broken).
_MAX_LINE_BYTES = 64 * 1024 * 1024


class WorkerServer:
    """Serves one plugin's tools (``tools``, by public name) to the host over stdio; what
    they say and ask while running goes to the host through ``link``."""

    def __init__(
        self,
        tools: Mapping[str, Tool],
        components: ComponentAnswers | None = None,
        link: HostLink | None = None,
    ) -> None:
        self.tools = tools
        self.components = components
        self.link = link or HostLink()
        self._running: dict[Any, anyio.CancelScope] = {}
        self._write_lock = asyncio.Lock()
        self._writer: asyncio.StreamWriter | None = None

    async def serve(self) -> None:
        """Until the host closes stdin. Whatever the plugin prints goes to stderr: the wire is
        a private copy of stdout."""
        wire = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_MAX_LINE_BYTES)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, wire)
        self._writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self.link.attach(self._send, self._post)
        async with anyio.create_task_group() as tasks:
            while line := await reader.readline():
                self._receive(line, tasks)
            tasks.cancel_scope.cancel()

    def _receive(self, line: bytes, tasks: TaskGroup) -> None:
        message = message_of(line, "the host", log)
        if message is None:
            return
        method, params = message.get("method"), message.get("params") or {}
        if "method" not in message:
            self.link.deliver(message)  # the host's reply to the worker's request
            return
        if "id" not in message:
            if method == "notifications/cancelled":
                scope = self._running.get(params.get("requestId"))
                if scope is not None:
                    scope.cancel()
            return
        tasks.start_soon(self._answer, message["id"], method, params)

    async def _answer(self, request_id: Any, method: Any, params: dict[str, Any]) -> None:
        host_call.set(request_id)  # this task's own context: its call's messages name it
        with anyio.CancelScope() as scope:
            self._running[request_id] = scope
            try:
                reply = {"result": await self._result(method, params)}
            except LookupError:
                reply = {"error": {"code": _METHOD_NOT_FOUND, "message": f"no method {method}"}}
            except AnswerError as exc:
                reply = {"error": exc.error}
            except Exception:
                log.exception("answering %s failed", method)
                reply = {"error": {"code": _INTERNAL_ERROR, "message": "internal error"}}
            finally:
                self._running.pop(request_id, None)
            await self._send({"jsonrpc": "2.0", "id": request_id, **reply})

    async def _result(self, method: Any, params: dict[str, Any]) -> dict[str, Any]:
        if method == "tools/call":
            return await self.call_tool(params)
        if method == "ping":
            return {}
        if self.components is not None and method in self.components.methods:
            return await self.components.answer(method, params)
        if method == "initialize":
            served = ("resources", "prompts", "completions") if self.components else ()
            return {
                "protocolVersion": params.get("protocolVersion"),
                "capabilities": {"tools": {}, **{name: {} for name in served}},
                "serverInfo": {"name": "plughost-worker", "version": __version__},
            }
        raise LookupError(method)

    async def call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        """One forwarded call, run for the caller its ``_meta`` names; its outcome returned
        in the result's ``_meta``."""
        name = params.get("name")
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            return dump(error_call_result(f"Unknown tool: {name!r}"))
        record = record_of(params.get("_meta"), "tool")
        record.stream = self.link.updates(params.get("_meta"))
        record.questions = self.link.questions(params.get("_meta"))
        token = current_call.set(record)
        try:
            try:
                result = await tool._run(params.get("arguments") or {})
            except (ValidationError, PydanticValidationError) as exc:
                cause = exc if isinstance(exc, PydanticValidationError) else exc.__cause__
                if not isinstance(cause, PydanticValidationError):
                    raise
                record.end(Outcome.INVALID_INPUT, "arguments failed validation")
                result = invalid_arguments(tool.name, cause)
            except Exception:
                log.exception("tool %s failed", tool.name)
                record.end(Outcome.INTERNAL_ERROR, "internal_error")
                rid = record.request_id
                result = error_result(
                    "internal_error",
                    f"the tool failed unexpectedly; give this request id to the operator: {rid}",
                    {"request_id": rid},
                )
            if isinstance(result, InputRequiredToolResult):
                answer = _question(result, record)
            else:
                answer = dump(wire_result(result))
            answer["_meta"] = {**(answer.get("_meta") or {}), OUTCOME_META: outcome_meta(record)}
            return answer
        finally:
            current_call.reset(token)

    def _post(self, message: dict[str, Any]) -> None:
        """Write a notification at once, on the worker's loop (in the order posted); dropped
        while the host is not reading (over `MAX_BUFFERED_BYTES` unread)."""
        writer = self._writer
        if writer is None or writer.transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            return
        writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._writer is not None
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        async with self._write_lock:
            self._writer.write(data)
            await self._writer.drain()


def _question(result: InputRequiredToolResult, record: CallRecord) -> dict[str, Any]:
    """The question that ended the tool's round (MCP 2026-07-28's ``input_required``), for the
    host to seal into the result its client gets: the worker holds neither the key nor the
    earlier rounds' say."""
    assert isinstance(record.questions, EarlierRounds)  # only such a call can end so
    question = question_of(result.input_required, record.questions.rounds())
    return {"content": [], "_meta": {ASKED_META: ask_wire(question)}}
