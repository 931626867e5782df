"""The worker's side of a running call's ``ctx``: what the tool says and asks goes to its host.

In the host's process a tool's ``ctx.progress`` and ``ctx.log`` reach the call's response
stream and ``ctx.token_for`` exchanges the caller's token. In a worker the same calls become
messages on the pipe, each naming its call by the id of the host's ``tools/call``
(`CALL_PARAM`): progress and logs as notifications (only when the host says the call's client
reads its stream, `UPDATES_META`), ``token_for`` as a request the host answers with the
downstream token alone: the caller's token never comes to the worker. The host relays them
into that call (`plughost.core.isolation.relay`) and refuses any id that is not one of this
worker's calls in flight. A question (``ctx.ask``) is a request the host asks on the call's
stream (`ASKS_META`); for a 2026-07-28 client the host sends the earlier rounds instead
(`ROUNDS_META`, `EarlierRounds`) and the question goes back in the result (`ASKED_META`), for
the host to seal. Plugin code does not change between the two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from pydantic import SecretStr, ValidationError

from plughost.core.loop_hop import run_on
from plughost.sdk.credentials import DownstreamToken, TokenSource
from plughost.sdk.elicitation import (
    Ask,
    InputUnavailable,
    Rounds,
    SamplingUnavailable,
    make_ask,
)
from plughost.sdk.errors import (
    TokenExchangeDenied,
    TokenExchangeError,
    TokenExchangeRefused,
    TokenExchangeUnavailable,
    ToolError,
)

#: Where a worker's message names the call it belongs to (the host's request id).
CALL_PARAM = "plughost/call"
#: The worker's request for a downstream token.
TOKEN_FOR = "plughost/token_for"
#: The worker's question for the call's user (``ctx.ask``), asked by the host on the stream.
ASK = "plughost/ask"
#: In a forwarded call's ``_meta``: its client reads the call's stream (progress, logs).
UPDATES_META = "plughost/updates"
#: In a forwarded call's ``_meta``: the host can ask the call's user on its stream.
ASKS_META = "plughost/asks"
#: In a forwarded call's ``_meta``: its client answers questions in rounds (MCP 2026-07-28),
#: and what its earlier rounds said (``{"answers": {...}, "remembered": {...}}``).
ROUNDS_META = "plughost/rounds"
#: In a tool result's ``_meta``: the question that ends this round (`ask_wire`), which the
#: host seals into the ``input_required`` result its client gets.
ASKED_META = "plughost/asked"
#: The JSON-RPC error code of a refusal the tool gets as a typed error (a token exchange
#: refused, a question unanswered); its ``data`` is the error (`ToolError.to_dict`).
REFUSED = -32001
#: Progress and log messages the pipe may hold for a slow host before more are dropped.
MAX_BUFFERED_BYTES = 1024 * 1024

#: The host's request id of the call this task serves (set per request in `stdio`).
host_call: ContextVar[Any] = ContextVar("plughost_host_call", default=None)

_REFUSEDS: dict[str, type[TokenExchangeError]] = {
    kind.code: kind
    for kind in (TokenExchangeRefused, TokenExchangeDenied, TokenExchangeUnavailable)
}

Send = Callable[[dict[str, Any]], Awaitable[None]]
Post = Callable[[dict[str, Any]], None]


class HostLink:
    """One worker's messages to its host about the calls it runs; also the worker's token
    exchange (`source`), in place of the host's."""

    def __init__(self) -> None:
        self._send: Send | None = None
        self._post: Post | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0

    def attach(self, send: Send, post: Post) -> None:
        """Write with ``send`` (requests, awaited) and ``post`` (notifications, at once, on the
        worker's loop), from now on."""
        self._send, self._post, self._loop = send, post, asyncio.get_running_loop()

    def updates(self, meta: Any) -> LinkedUpdates | None:
        """Where the current call's progress and logs go: to the host, when its client reads
        them (the host says so in ``meta``)."""
        wanted = isinstance(meta, Mapping) and meta.get(UPDATES_META) is True
        return LinkedUpdates(self, host_call.get()) if wanted else None

    def questions(self, meta: Any) -> LinkedQuestions | EarlierRounds | None:
        """Where the current call's questions go: to the host, when it can ask its user on the
        call's stream, or back to it ending the round, when its client answers in rounds (it
        says which in ``meta``); else the tool cannot ask (its fallback)."""
        found = meta if isinstance(meta, Mapping) else {}
        if found.get(ASKS_META) is True:
            return LinkedQuestions(self, host_call.get())
        rounds = found.get(ROUNDS_META)
        return EarlierRounds.of(rounds) if isinstance(rounds, Mapping) else None

    def source(self, plugin: str, subject: SecretStr | None) -> TokenSource:
        """The current call's downstream tokens, exchanged by the host (``subject`` is always
        None here: the caller's token stays with the host)."""
        return LinkedTokens(self, host_call.get(), plugin)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification from any thread, in order, without waiting."""
        loop, post = self._loop, self._post
        if loop is None or post is None:
            return
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            post(message)
        else:
            loop.call_soon_threadsafe(post, message)

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Ask the host and wait for its reply message, from any loop (an async tool runs on
        its plugin's own; the pipe is the worker's)."""
        assert self._loop is not None
        return await run_on(self._loop, lambda: self._request(method, params))

    async def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self._send is not None and self._loop is not None
        self._next_id += 1
        request_id = f"w{self._next_id}"
        waiter: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._waiting[request_id] = waiter
        try:
            message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            await self._send(message)
            return await waiter
        finally:
            self._waiting.pop(request_id, None)

    def deliver(self, message: dict[str, Any]) -> None:
        """The host's reply to one of the worker's requests (others are ignored)."""
        waiter = self._waiting.pop(str(message.get("id")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)


class LinkedUpdates:
    """A call's `Updates` (progress and logs), sent to the host for the call ``call``."""

    def __init__(self, link: HostLink, call: Any) -> None:
        self.link, self.call = link, call

    def progress(self, done: float, total: float | None, message: str | None) -> None:
        params = {CALL_PARAM: self.call, "progress": done, "total": total, "message": message}
        self.link.notify("notifications/progress", params)

    def log(self, level: str, data: Any) -> None:
        params = {CALL_PARAM: self.call, "level": level, "data": data}
        self.link.notify("notifications/message", params)


class LinkedQuestions:
    """A call's questions (`CallRecord.questions`), asked by the host on the call's stream;
    the answers come back and the function runs again with them, as in the host."""

    #: The host asks only when it can (it says so in the call's ``_meta``); sampling the
    #: client's model is not relayed from a worker.
    can_ask, can_sample = True, False
    cannot_sample = "a plugin isolated in a worker process cannot reach it"

    def __init__(self, link: HostLink, call: Any) -> None:
        self.link, self.call = link, call
        self._answers: dict[str, Any] = {}
        self._remembered: dict[str, Any] = {}

    def rounds(self) -> Rounds:
        return Rounds(can_ask=True, answers=dict(self._answers), remembered=self._remembered)

    async def sample(self, prompt: str, max_tokens: int, system: str | None) -> str:
        raise SamplingUnavailable(
            "sampling the client's model is not available to a plugin isolated in a worker process"
        )

    async def put(self, ask: Ask) -> None:
        params = {CALL_PARAM: self.call, "ask": ask_wire(ask)}
        reply = await self.link.request(ASK, params)
        error = _mapping(reply.get("error"))
        if error:
            data = _mapping(error.get("data"))
            message = str(data.get("message") or error.get("message") or "no answer")
            details = {str(k): v for k, v in _mapping(data.get("details")).items() if k != "code"}
            raise ToolError(message, code=str(data.get("code") or "input_unavailable"), **details)
        result = _mapping(reply.get("result"))
        self._answers = dict(_mapping(result.get("answers")))
        self._remembered = dict(_mapping(result.get("remembered")))


class EarlierRounds:
    """A 2026-07-28 call's questions in a worker: what the host said of the earlier rounds.

    A question the function returns is not asked while the call waits (`can_ask` is False):
    it ends the round, as in the host's process, and goes back to the host in the result
    (`ASKED_META`), which seals the round itself. Sampling is not for 2026-07-28 clients.
    """

    can_ask, can_sample = False, False
    cannot_sample = "a 2026-07-28 client cannot sample"

    def __init__(self, rounds: Rounds) -> None:
        self._rounds = rounds

    @classmethod
    def of(cls, wire: Mapping[str, Any]) -> EarlierRounds:
        """The rounds as the host wrote them in the call's ``_meta``."""
        answers = _mapping(wire.get("answers"))
        kept = {str(key): dict(_mapping(answer)) for key, answer in answers.items()}
        remembered = dict(_mapping(wire.get("remembered")))
        return cls(Rounds(can_ask=True, answers=kept, remembered=remembered))

    def rounds(self) -> Rounds:
        return self._rounds

    async def put(self, ask: Ask) -> None:
        raise InputUnavailable("a 2026-07-28 client is asked in rounds, not while the call waits")

    async def sample(self, prompt: str, max_tokens: int, system: str | None) -> str:
        raise SamplingUnavailable("a 2026-07-28 client cannot sample")


def rounds_wire(rounds: Rounds) -> dict[str, Any]:
    """A call's earlier rounds as the host sends them to its worker (`EarlierRounds.of`)."""
    answers = {key: dict(answer) for key, answer in rounds.answers.items()}
    return {"answers": answers, "remembered": dict(rounds.remembered)}


def ask_wire(ask: Ask) -> dict[str, Any]:
    """A tool's question as the worker sends it to its host (`ask_from_wire`)."""
    schema, remember = ask.schema, ask.remember
    return {"key": ask.key, "message": ask.message, "schema": schema, "remember": remember}


def ask_from_wire(asked: Any) -> Ask:
    """A worker's question, checked as `ToolContext.ask` checks it: `InputUnavailable` says
    why the host cannot ask it."""
    if not isinstance(asked, Mapping):
        raise InputUnavailable("the tool's question was not readable")
    try:
        return make_ask(
            str(asked.get("key")),
            str(asked.get("message")),
            asked.get("schema") or None,
            asked.get("remember") or None,
        )
    except (ValueError, TypeError) as exc:
        message = f"the tool's question is not one the host can ask: {exc}"
        raise InputUnavailable(message) from None


class LinkedTokens:
    """A call's `TokenSource`: the host exchanges the caller's token for the call ``call``."""

    def __init__(self, link: HostLink, call: Any, plugin: str) -> None:
        self.link, self.call, self.plugin = link, call, plugin

    async def token_for(self, audience: str, scopes: Sequence[str]) -> DownstreamToken:
        params = {CALL_PARAM: self.call, "audience": audience, "scopes": list(scopes)}
        reply = await self.link.request(TOKEN_FOR, params)
        if "error" in reply:
            raise exchange_error(reply["error"], self.plugin)
        try:
            return DownstreamToken.model_validate(reply.get("result"))
        except ValidationError:
            raise TokenExchangeUnavailable(
                "the host answered the token request with something that is not a token",
                plugin=self.plugin,
                audience=audience,
            ) from None

    def __repr__(self) -> str:
        return f"LinkedTokens(plugin={self.plugin!r})"


def exchange_error(error: Any, plugin: str) -> TokenExchangeError:
    """The typed error the host's refusal names, as the tool would get it in-process."""
    error = _mapping(error)
    data = _mapping(error.get("data"))
    kind = _REFUSEDS.get(str(data.get("code")), TokenExchangeRefused)
    details = _mapping(data.get("details"))
    message = str(error.get("message") or "the host refused the token exchange")
    named = {str(k): v for k, v in details.items() if k != "code"}
    return kind(message, **{"plugin": plugin, **named})


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def token_wire(token: DownstreamToken) -> dict[str, Any]:
    """A downstream token as the host sends it to the worker (the token itself in the clear:
    the worker needs it, and only the worker holds the pipe)."""
    found: dict[str, Any] = token.model_dump(mode="json")
    found["access_token"] = token.access_token.get_secret_value()
    return found
