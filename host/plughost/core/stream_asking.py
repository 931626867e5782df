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
Sampling (``sampling/createMessage``, `ToolContext.sample`) goes the same way, for a client
that declared it (from 2025-03-26, `SAMPLING_VERSIONS`): the tool awaits the model's reply
where it stands (2026-07-28 deprecates sampling, so nothing there re-runs a tool for it).
Each call sends at most `MAX_REQUESTS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
from mcp.types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitResult,
    SamplingMessage,
    TextContent,
)
from pydantic import ValidationError

from plughost.core.answer_router import (
    AnswerRouter,
    AnswersUnavailable,
    RedisAnswerRouter,
    TooManyWaiting,
    owner_of,
)
from plughost.core.call_stream import CallStream
from plughost.core.client_memory import (
    ELICITATION,
    SAMPLING,
    ClientMemory,
    Declared,
    RedisClientMemory,
)
from plughost.core.loop_hop import run_on
from plughost.sdk.context import Caller
from plughost.sdk.elicitation import (
    CLIENT_CANNOT_SAMPLE,
    Ask,
    InputUnavailable,
    Rounds,
    SamplingFailed,
)
from plughost.sdk.errors import ToolError
from plughost.settings import HostSettings

log = logging.getLogger("plughost.asking")

#: The protocol versions whose clients are asked questions on the call's stream.
STREAMED_VERSIONS = frozenset({"2025-06-18", "2025-11-25"})
#: The protocol versions whose clients may be sent sampling requests there (streamable HTTP
#: came with 2025-03-26; 2026-07-28 deprecates sampling).
SAMPLING_VERSIONS = frozenset({"2025-03-26", *STREAMED_VERSIONS})
#: Requests (questions, sampling) one call may send its client before it is ended (a tool
#: asking in a loop).
MAX_REQUESTS = 10
#: How much of a client's error message a tool is told.
MAX_ERROR_CHARS = 200


class Unanswered(ToolError):
    """The question got no answer the call could use (timeout, or the host could not wait
    for one); nothing after the question ran."""

    code = "unanswered"


def declared_in(params: Any) -> Declared:
    """What ``initialize`` params declare the client answers: form elicitation (``{}`` means
    form, MCP 2025-11-25; a client offering only ``url`` mode cannot fill in a form), sampling."""
    capabilities = params.get("capabilities") if isinstance(params, Mapping) else None
    if not isinstance(capabilities, Mapping):
        return frozenset()
    found = set()
    elicitation = capabilities.get("elicitation")
    if isinstance(elicitation, Mapping) and ("form" in elicitation or "url" not in elicitation):
        found.add(ELICITATION)
    if isinstance(capabilities.get("sampling"), Mapping):
        found.add(SAMPLING)
    return frozenset(found)


class StreamedQuestions:
    """One call's requests to its client on the call's stream: its questions and their
    answers, as the rounds its function is run with, and its sampling requests (a `Sampler`,
    awaited from the plugin's loop, sent from the host's)."""

    def __init__(
        self, asking: StreamAsking, stream: CallStream, owner: str, declared: Declared
    ) -> None:
        self._asking = asking
        self._stream = stream
        self._owner = owner
        self._loop = asyncio.get_running_loop()
        self.can_ask = ELICITATION in declared
        self.can_sample = SAMPLING in declared
        self.cannot_sample = CLIENT_CANNOT_SAMPLE
        self._answers: dict[str, Mapping[str, Any]] = {}
        self._remembered: dict[str, Any] = {}
        self._sent = 0

    def rounds(self) -> Rounds:
        """What the next run of the function reads: every answer so far."""
        return Rounds(
            can_ask=self.can_ask, answers=dict(self._answers), remembered=self._remembered
        )

    async def put(self, ask: Ask) -> None:
        """Ask ``ask`` on the stream and wait for its answer (raises a `ToolError` saying why
        there is none to use)."""
        form = {"message": ask.message, "requestedSchema": ask.schema}
        late = f"the user did not answer within {self._asking.timeout:g}s; nothing was done"
        response = await self._request("elicitation/create", form, late, question=ask.key)
        self._answers[ask.key] = _answer(response, ask.key)
        self._remembered = {**self._remembered, **ask.remember}

    async def sample(self, prompt: str, max_tokens: int, system: str | None) -> str:
        """The client's model's text reply to ``prompt``, from whichever loop the tool awaits
        on (raises a `ToolError` saying why there is none)."""
        return await run_on(self._loop, lambda: self._sample(prompt, max_tokens, system))

    async def _sample(self, prompt: str, max_tokens: int, system: str | None) -> str:
        message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
        params = CreateMessageRequestParams(
            messages=[message], max_tokens=max_tokens, system_prompt=system
        ).model_dump(by_alias=True, mode="json", exclude_none=True)
        late = f"the client's model did not answer within {self._asking.timeout:g}s"
        response = await self._request("sampling/createMessage", params, late, request="sampling")
        return _sampled(response)

    async def _request(
        self, method: str, params: dict[str, Any], late: str, **details: Any
    ) -> Mapping[str, Any]:
        """Send ``method`` on the stream and wait for the client's response, which may reach
        any replica; `Unanswered` (``late`` on timeout, ``details`` naming what was asked)."""
        self._sent += 1
        if self._sent > MAX_REQUESTS:
            raise Unanswered(
                f"the tool sent its client more than {MAX_REQUESTS} requests in one call"
            )
        try:
            async with self._asking.router.waiting(self._owner) as waiting:
                request = {"jsonrpc": "2.0", "id": waiting.id, "method": method}
                self._stream.request({**request, "params": params})
                with anyio.move_on_after(self._asking.timeout):
                    return await waiting.answer
        except TooManyWaiting as exc:
            raise Unanswered(f"{exc}: answer them first", **details) from None
        except AnswersUnavailable:
            log.warning("could not wait for an answer: the answer channel is unavailable")
            raise Unanswered(
                "the server cannot wait for an answer right now; try again", **details
            ) from None
        raise Unanswered(late, **details)


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


def _sampled(response: Mapping[str, Any]) -> str:
    """The text of the client's sampling result, or `SamplingFailed` saying why there is none
    (a declining user is an error response, as MCP defines it; its message is the client's)."""
    if "error" in response:
        error = response["error"] if isinstance(response["error"], Mapping) else {}
        said = str(error.get("message") or "no reason given")[:MAX_ERROR_CHARS]
        raise SamplingFailed(f"the client did not sample: {said} (error {error.get('code')})")
    try:
        result = CreateMessageResult.model_validate(response.get("result"))
    except ValidationError:
        raise SamplingFailed("the client's answer is not a sampling result") from None
    if not isinstance(result.content, TextContent):
        raise SamplingFailed(f"the client's model answered with {result.content.type}, not text")
    return result.content.text


class StreamAsking:
    """What asking on calls' streams needs: who may be asked, where answers go, how long
    to wait. `plughost.edge` feeds it ``initialize`` declarations and answers."""

    def __init__(self, router: AnswerRouter, memory: ClientMemory, timeout: float) -> None:
        self.router = router
        self.memory = memory
        self.timeout = timeout

    async def remember(self, caller: Caller, initialize_params: Any) -> None:
        await self.memory.remember(owner_of(caller), declared_in(initialize_params))

    async def questions_for(
        self, caller: Caller, stream: CallStream, version: str
    ) -> StreamedQuestions | None:
        """The call's requests to its client, or None when the client, on protocol
        ``version``, answers none (it never said so, or its version has no such request)."""
        if version not in SAMPLING_VERSIONS:
            return None
        owner = owner_of(caller)
        declared = await self.memory.declared(owner)
        if version not in STREAMED_VERSIONS:
            declared -= {ELICITATION}
        if not declared:
            return None
        return StreamedQuestions(self, stream, owner, declared)

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
