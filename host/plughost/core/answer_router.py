"""The client's answer to a question a call asked on its stream, routed back to that call.

For clients on MCP 2025-06-18 and 2025-11-25 a question is a JSON-RPC request
(``elicitation/create``) the host writes on the call's event stream while the call waits
(`plughost.core.stream_asking`). The client answers in a separate POST: a JSON-RPC response
with the request's id, which the load balancer may hand to any replica. So each question's id
names the replica that waits for it and carries a random part no one can guess; the edge hands
every such response to `AnswerRouter.deliver`, which accepts it only from the caller that was
asked (tenant, client and subject), only once, and wakes the waiting call: in this process
(`AnswerRouter`), or on whichever replica waits, through Redis (`RedisAnswerRouter`: the
question's owner kept under a key with the question's lifetime; a delivery checks and
consumes it and publishes the answer on the waiting replica's channel in one script).

What is waited on is bounded: at most `MAX_WAITING_PER_CALLER` questions per caller on a
replica, each for the ask timeout only. Answers are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plughost.sdk.context import Caller

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("plughost.answers")

#: How every question id the host sends begins; a response with another id is not ours.
ASK_ID_PREFIX = "plughost-ask"
#: Questions one caller may have waiting on one replica at a time.
MAX_WAITING_PER_CALLER = 8

# Consume the question's owner key when the caller is its owner, then publish the answer.
_DELIVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return redis.call('PUBLISH', KEYS[2], ARGV[2])
"""


class Undeliverable(Exception):
    """No question of this caller's waits for this answer (unknown, expired, answered, or
    someone else's: the same refusal for each, so ids reveal nothing)."""


class AnswersUnavailable(Exception):
    """The shared answer channel (Redis) failed or timed out."""


class TooManyWaiting(Exception):
    """The caller already has `MAX_WAITING_PER_CALLER` questions waiting on this replica."""


def owner_of(caller: Caller) -> str:
    """Who may answer a question asked of ``caller``: its tenant, client and subject, hashed
    (the key names no user)."""
    who = "\x00".join((caller.tenant_id, caller.client_id or "", caller.subject))
    return hashlib.sha256(who.encode()).hexdigest()[:40]


def is_answer(payload: dict[str, Any]) -> bool:
    """Whether a JSON-RPC message is a response to one of the host's questions."""
    request_id = payload.get("id")
    return (
        "method" not in payload
        and ("result" in payload or "error" in payload)
        and isinstance(request_id, str)
        and request_id.startswith(ASK_ID_PREFIX + ":")
    )


@dataclass
class Waiting:
    """One question waiting for its answer: ``id`` goes out with the request."""

    id: str
    owner: str
    answer: asyncio.Future[dict[str, Any]] = field(repr=False)


class AnswerRouter:
    """Answers for this process's waiting questions, delivered in this process.

    Right for one process; replicas (and ``--workers``) need `RedisAnswerRouter`.
    """

    def __init__(self, *, lifetime: float, max_waiting: int = MAX_WAITING_PER_CALLER) -> None:
        self.replica = secrets.token_hex(8)
        self.lifetime = lifetime
        self._max_waiting = max_waiting
        self._waiting: dict[str, Waiting] = {}
        self._per_owner: Counter[str] = Counter()

    async def start(self) -> None:
        """Ready to route (nothing to do in one process)."""

    async def stop(self) -> None:
        """Stop routing."""

    @asynccontextmanager
    async def waiting(self, owner: str) -> AsyncIterator[Waiting]:
        """A new question of ``owner``'s, waiting for its answer until the block ends."""
        if self._per_owner[owner] >= self._max_waiting:
            raise TooManyWaiting(f"{self._max_waiting} questions already wait for your answers")
        question_id = f"{ASK_ID_PREFIX}:{self.replica}:{secrets.token_urlsafe(18)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        question = Waiting(question_id, owner, future)
        self._waiting[question_id] = question
        self._per_owner[owner] += 1
        try:
            await self._opened(question)
            yield question
        finally:
            del self._waiting[question_id]
            self._per_owner[owner] -= 1
            if not self._per_owner[owner]:
                del self._per_owner[owner]
            await self._closed(question)

    async def deliver(self, owner: str, response: dict[str, Any]) -> None:
        """Hand ``response`` (a JSON-RPC response) to the question it answers, or raise
        `Undeliverable`."""
        question = self._waiting.get(response["id"])
        if question is None or question.owner != owner or question.answer.done():
            raise Undeliverable(response["id"])
        question.answer.set_result(response)

    async def _opened(self, question: Waiting) -> None:
        """Hook: the question is about to be sent."""

    async def _closed(self, question: Waiting) -> None:
        """Hook: the question no longer waits."""

    def _wake(self, question_id: str, response: dict[str, Any]) -> None:
        """An answer the shared channel checked and delivered: wake its question if here."""
        question = self._waiting.get(question_id)
        if question is not None and not question.answer.done():
            question.answer.set_result(response)


class RedisAnswerRouter(AnswerRouter):
    """Answers delivered to whichever replica waits, through Redis.

    Each replica listens on its own channel (``<prefix>:answers:<replica>``); a question's
    owner is kept at ``<prefix>:ask:<id>`` for its lifetime. Every Redis call has ``timeout``.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        timeout: float,
        lifetime: float,
        max_waiting: int = MAX_WAITING_PER_CALLER,
    ) -> None:
        super().__init__(lifetime=lifetime, max_waiting=max_waiting)
        self._redis = client
        self._prefix = prefix
        self._timeout = timeout
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def _channel(self, replica: str) -> str:
        return f"{self._prefix}:answers:{replica}"

    def _key(self, question_id: str) -> str:
        return f"{self._prefix}:ask:{question_id}"

    async def start(self) -> None:
        """Listen on this replica's channel (waits until subscribed, at most ``timeout``)."""
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), self._timeout)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    async def _listen(self) -> None:
        """Wake local questions with the answers published for them; reconnect on failure."""
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel(self.replica))
                self._subscribed.set()
                async for message in pubsub.listen():
                    data = json.loads(message["data"])
                    self._wake(data["id"], data["response"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection dropped: listen again shortly
                self._subscribed.clear()
                log.warning("answer channel failed (%s); listening again", type(exc).__name__)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _opened(self, question: Waiting) -> None:
        if not self._subscribed.is_set():
            raise AnswersUnavailable("this replica is not listening for answers")
        ttl = max(1, int(self.lifetime) + 1)
        await self._call(self._redis.set(self._key(question.id), question.owner, ex=ttl))

    async def _closed(self, question: Waiting) -> None:
        with contextlib.suppress(AnswersUnavailable):
            await self._call(self._redis.delete(self._key(question.id)))

    async def deliver(self, owner: str, response: dict[str, Any]) -> None:
        question_id = response["id"]
        parts = question_id.split(":")
        if len(parts) != 3:
            raise Undeliverable(question_id)
        replica = parts[1]
        data = json.dumps({"id": question_id, "response": response}, separators=(",", ":"))
        keys = (self._key(question_id), self._channel(replica))
        reached = await self._call(self._redis.eval(_DELIVER, 2, *keys, owner, data))
        if reached is None or int(reached) < 1:  # not the owner's, or no replica waits
            raise Undeliverable(question_id)

    async def _call(self, pending: Any) -> Any:
        try:
            return await asyncio.wait_for(pending, self._timeout)
        except (TimeoutError, OSError, ConnectionError) as exc:
            raise AnswersUnavailable(type(exc).__name__) from None
        except Exception as exc:
            if type(exc).__module__.startswith("redis"):
                raise AnswersUnavailable(type(exc).__name__) from None
            raise
