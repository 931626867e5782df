"""The host's side of a running isolated call's ``ctx``: the worker's messages, relayed.

A worker sends what its tool says and asks while a call runs (`host_link`): progress and log
notifications, which go to the call's own stream exactly as an in-process tool's do
(`CallRecord.stream`, `plughost.core.call_stream`), and token requests, which the host answers
by exchanging the caller's token it holds (`TokenExchange`), sending the worker only the
downstream token, or the same typed refusal an in-process tool gets. Each message names its
call by the host's request id; one that names no call of *this* worker in flight (it ended,
or never was: another worker's, or forged) is ignored, and a request is refused.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from plughost.core.adapter import TokenExchange
from plughost.core.callrecord import CallRecord
from plughost.core.isolation.host_link import (
    ASK,
    CALL_PARAM,
    REFUSED,
    TOKEN_FOR,
    ask_from_wire,
    rounds_wire,
    token_wire,
)
from plughost.core.isolation.pipe import Pipe
from plughost.sdk.context import LOG_LEVELS
from plughost.sdk.elicitation import InputUnavailable
from plughost.sdk.errors import TokenExchangeError, TokenExchangeRefused, ToolError

log = logging.getLogger("plughost.isolation")

_INVALID_PARAMS = -32602
_METHOD_NOT_FOUND = -32601


@dataclass(frozen=True)
class InFlight:
    """A call in flight in a worker, as its messages reach it: its record, and the deadline
    the host runs it under (`forwarding.forward_deadline`)."""

    record: CallRecord
    deadline: anyio.CancelScope | None = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The deadline held while the user answers a question (in-process, the wait for an
        answer is not the tool's time either), then resumed with what was left of it."""
        scope = self.deadline
        if scope is None:
            yield
            return
        left = max(scope.deadline - anyio.current_time(), 0.0)
        scope.deadline = math.inf
        try:
            yield
        finally:
            scope.deadline = anyio.current_time() + left


class WorkerRelay:
    """Relays one isolated plugin's (``namespace``) messages into the calls they name."""

    def __init__(self, namespace: str, exchanger: TokenExchange | None) -> None:
        self.namespace = namespace
        self.exchanger = exchanger
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, pipe: Pipe, message: dict[str, Any]) -> None:
        """One message from the worker (read on the host's loop, in order)."""
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        call = pipe.call(params.get(CALL_PARAM))
        method = message.get("method")
        if "id" in message:
            answer = self._answer(pipe, message["id"], method, params, call)
            self._start(answer)
        elif not isinstance(call, InFlight):
            log.debug("plugin %s sent %s for no call of its own in flight", self.namespace, method)
        elif call.record.stream is not None:
            relay_update(call.record, method, params)

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(
        self, pipe: Pipe, request_id: Any, method: Any, params: dict[str, Any], call: Any
    ) -> None:
        if method not in (TOKEN_FOR, ASK):
            reply: dict[str, Any] = _error(_METHOD_NOT_FOUND, f"no method {method}")
        elif not isinstance(call, InFlight):
            log.warning(
                "plugin %s sent %s for no call of its own in flight; refused",
                self.namespace,
                method,
            )
            reply = _error(_INVALID_PARAMS, "the request names no call of this worker in flight")
        elif method == ASK:
            with call.paused():
                reply = await ask(call.record, params.get("ask"))
        else:
            reply = await self._token_for(call.record, params)
        await pipe.answer(request_id, reply)

    async def _token_for(self, record: CallRecord, params: dict[str, Any]) -> dict[str, Any]:
        """The caller's token exchanged for the audience the worker asked for, or the typed
        error an in-process tool would get."""
        audience, scopes = params.get("audience"), params.get("scopes")
        if not isinstance(audience, str) or not isinstance(scopes, list):
            return _error(_INVALID_PARAMS, "a token request names an audience and scopes")
        try:
            if self.exchanger is None:
                raise TokenExchangeRefused(
                    "token exchange is off on this server", plugin=self.namespace
                )
            source = self.exchanger.source(self.namespace, record.subject_token)
            token = await source.token_for(audience, [str(scope) for scope in scopes])
        except TokenExchangeError as exc:
            return _error(REFUSED, exc.message, exc.to_dict())
        return {"result": token_wire(token)}


async def ask(record: CallRecord, asked: Any) -> dict[str, Any]:
    """The worker's question asked on the call's stream (checked as `ToolContext.ask` checks
    it); the answers so far, or the typed error saying why there is none."""
    questions = record.questions
    try:
        if questions is None:
            raise InputUnavailable("this call's client cannot be asked")
        question = ask_from_wire(asked)
        await questions.put(question)
    except ToolError as exc:
        return _error(REFUSED, exc.message, exc.to_dict())
    return {"result": rounds_wire(questions.rounds())}


def relay_update(record: CallRecord, method: Any, params: dict[str, Any]) -> None:
    """A progress or log notification of the worker's, on the call's stream (what does not
    fit what ``ctx`` sends is dropped)."""
    stream = record.stream
    assert stream is not None
    if method == "notifications/progress":
        done, total, message = params.get("progress"), params.get("total"), params.get("message")
        if isinstance(done, int | float) and (total is None or isinstance(total, int | float)):
            stream.progress(float(done), None if total is None else float(total), _text(message))
    elif method == "notifications/message":
        level = params.get("level")
        if level in LOG_LEVELS:
            stream.log(str(level), params.get("data"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _error(code: int, message: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"error": error}
