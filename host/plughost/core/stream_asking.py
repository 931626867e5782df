"""Questions a tool asks on its call's own response stream (MCP 2025-06-18 and 2025-11-25).

On these versions elicitation is a request the server sends while the call waits, not a round
the client drives. A tool writes one guard for every version (`plughost.sdk.elicitation`):
it returns an `Ask`. For a client that reads ``text/event-stream`` and declared elicitation
at ``initialize`` (`plughost.core.client_memory`), the host then writes
``elicitation/create`` on the call's stream (`plughost.core.call_stream`), waits for the
answer, which may reach any replica (`plughost.core.answer_router`), and runs the function
again from the top with it, as the next 2026-07-28 round would: a tool cannot tell the two
apart, and ``remember`` works the same. Declining and cancelling are answers like accepting;
no answer within ``PLUGHOST_ASK_TIMEOUT_SECONDS`` ends the call with ``unanswered``.
Sampling is not offered: it is deprecated in 2026-07-28, and no tool API asks for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
from mcp.types import ElicitResult
from pydantic import ValidationError

from plughost.core.answer_router import (
    AnswerRouter,
    AnswersUnavailable,
    RedisAnswerRouter,
    TooManyWaiting,
    owner_of,
)
from plughost.core.call_stream import CallStream
from plughost.core.client_memory import ClientMemory, RedisClientMemory
from plughost.sdk.context import Caller
from plughost.sdk.elicitation import Ask, InputUnavailable, Rounds
from plughost.sdk.errors import ToolError
from plughost.settings import HostSettings

log = logging.getLogger("plughost.asking")

#: The protocol versions whose clients are asked on the call's stream.
STREAMED_VERSIONS = frozenset({"2025-06-18", "2025-11-25"})
#: Questions one call may ask before it is ended (a tool asking in a loop).
MAX_QUESTIONS = 10


class Unanswered(ToolError):
    """The question got no answer the call could use (timeout, or the host could not wait
    for one); nothing after the question ran."""

    code = "unanswered"


def declares_elicitation(params: Any) -> bool:
    """Whether ``initialize`` params declare form elicitation (``{}`` means form, MCP 2025-11-25;
    a client offering only ``url`` mode cannot fill in a form)."""
    capabilities = params.get("capabilities") if isinstance(params, Mapping) else None
    elicitation = capabilities.get("elicitation") if isinstance(capabilities, Mapping) else None
    if not isinstance(elicitation, Mapping):
        return False
    return "form" in elicitation or "url" not in elicitation


class StreamedQuestions:
    """One call's questions and their answers, as the rounds its function is run with."""

    def __init__(self, stream: CallStream, router: AnswerRouter, owner: str, timeout: float):
        self._stream = stream
        self._router = router
        self._owner = owner
        self._timeout = timeout
        self._answers: dict[str, Mapping[str, Any]] = {}
        self._remembered: dict[str, Any] = {}
        self._asked = 0

    def rounds(self) -> Rounds:
        """What the next run of the function reads: every answer so far."""
        return Rounds(can_ask=True, answers=dict(self._answers), remembered=self._remembered)

    async def put(self, ask: Ask) -> None:
        """Ask ``ask`` on the stream and wait for its answer (raises a `ToolError` saying why
        there is none to use)."""
        self._asked += 1
        if self._asked > MAX_QUESTIONS:
            raise Unanswered(f"the tool asked more than {MAX_QUESTIONS} questions in one call")
        try:
            async with self._router.waiting(self._owner) as question:
                form = {"message": ask.message, "requestedSchema": ask.schema}
                request = {"jsonrpc": "2.0", "id": question.id, "method": "elicitation/create"}
                self._stream.request({**request, "params": form})
                with anyio.move_on_after(self._timeout):
                    response = await question.answer
                    self._answers[ask.key] = _answer(response, ask.key)
                    self._remembered = {**self._remembered, **ask.remember}
                    return
        except TooManyWaiting as exc:
            raise Unanswered(f"{exc}: answer them first", question=ask.key) from None
        except AnswersUnavailable:
            log.warning("could not wait for an answer: the answer channel is unavailable")
            raise Unanswered(
                "the server cannot wait for an answer right now; try again", question=ask.key
            ) from None
        raise Unanswered(
            f"the user did not answer within {self._timeout:g}s; nothing was done",
            question=ask.key,
        )


def _answer(response: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The client's response as a raw answer (`Rounds`), or why it is none."""
    if "error" in response:
        error = response["error"] if isinstance(response["error"], Mapping) else {}
        raise InputUnavailable(
            f"the client could not ask its user (error {error.get('code')})", question=key
        )
    try:
        result = ElicitResult.model_validate(response.get("result"))
    except ValidationError:
        raise InputUnavailable(
            "the client's answer is not an elicitation result", question=key
        ) from None
    return {"action": result.action, "content": result.content}


class StreamAsking:
    """What asking on calls' streams needs: who may be asked, where answers go, how long
    to wait. `plughost.edge` feeds it ``initialize`` declarations and answers."""

    def __init__(self, router: AnswerRouter, memory: ClientMemory, timeout: float) -> None:
        self.router = router
        self.memory = memory
        self.timeout = timeout

    async def remember(self, caller: Caller, initialize_params: Any) -> None:
        await self.memory.remember(owner_of(caller), declares_elicitation(initialize_params))

    async def questions_for(self, caller: Caller, stream: CallStream) -> StreamedQuestions | None:
        """The call's questions, or None when its client never said it can answer."""
        owner = owner_of(caller)
        if not await self.memory.can_elicit(owner):
            return None
        return StreamedQuestions(stream, self.router, owner, self.timeout)

    async def deliver(self, caller: Caller, response: dict[str, Any]) -> None:
        """A client's answer (raises `Undeliverable` or `AnswersUnavailable`)."""
        await self.router.deliver(owner_of(caller), response)


def build_stream_asking(settings: HostSettings, *, one_process: bool) -> StreamAsking | None:
    """Through Redis when the rate limits use it (every replica then shares the answers), in
    this process when it is the only one; None (no asking on streams) for several worker
    processes without Redis: an answer could reach a process where nobody waits."""
    limits, timeout = settings.rate_limit, settings.ask_timeout_seconds
    if urlsplit(limits.storage_url).scheme in ("redis", "rediss"):
        from redis.asyncio import Redis

        seconds = limits.storage_timeout_seconds
        client = Redis.from_url(
            limits.storage_url, socket_connect_timeout=seconds, socket_timeout=None
        )
        prefix = f"{limits.key_prefix}:elicit"
        router = RedisAnswerRouter(client, prefix=prefix, timeout=seconds, lifetime=timeout + 5)
        memory = RedisClientMemory(client, prefix=prefix, timeout=seconds)
        return StreamAsking(router, memory, timeout)
    if not one_process:
        return None
    return StreamAsking(AnswerRouter(lifetime=timeout), ClientMemory(), timeout)
