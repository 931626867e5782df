"""What a caller's client declared at ``initialize`` that a stateless host needs later.

Clients on MCP 2025-06-18 and 2025-11-25 declare their capabilities once, in ``initialize``;
a stateless server forgets them with its answer (the MCP SDK's stateless transport then never
lets a tool ask: no capabilities, no back channel). The host keeps one fact per caller
(tenant, OAuth client and subject, `owner_of`): which requests its client answers
(`ELICITATION`, `SAMPLING`), for `REMEMBER_SECONDS` after its latest ``initialize``, in this
process (`ClientMemory`) or in Redis for every replica (`RedisClientMemory`). The latest
``initialize`` of a caller wins: the key is the OAuth client, so two installations of one
client app share it. A caller this replica knows nothing of is not asked; its tools fall
back to their arguments.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: How long a client's declaration counts after its ``initialize`` (a working day).
REMEMBER_SECONDS = 12 * 3600
#: How long a replica trusts what it read from Redis before reading again.
CACHE_SECONDS = 30.0
#: Callers kept in one process's memory (the least recently seen are forgotten first).
MAX_CALLERS = 50_000

#: The requests a client may declare it answers.
ELICITATION = "elicitation"
SAMPLING = "sampling"
#: What replicas of plughost 0.4.0 stored: ``1`` meant elicitation (a rolling deploy mixes them).
_EARLIER = {b"1": frozenset({ELICITATION}), b"0": frozenset()}

Declared = frozenset[str]


def _encoded(declared: Declared) -> bytes:
    return ",".join(sorted(declared)).encode() or b"-"


def _decoded(value: bytes | str) -> Declared:
    raw = value.encode() if isinstance(value, str) else value
    if raw in _EARLIER:
        return _EARLIER[raw]
    return frozenset(part for part in raw.decode().split(",") if part in (ELICITATION, SAMPLING))


class ClientMemory:
    """Declarations kept in this process, bounded in size and age."""

    def __init__(
        self,
        *,
        keep_for: float = REMEMBER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = MAX_CALLERS,
    ) -> None:
        self._keep_for = keep_for
        self._clock = clock
        self._max = max_callers
        self._known: OrderedDict[str, tuple[Declared, float]] = OrderedDict()

    async def remember(self, owner: str, declared: Declared) -> None:
        """``owner``'s client just declared which requests it answers (maybe none)."""
        self._keep(owner, declared, self._keep_for)

    async def declared(self, owner: str) -> Declared:
        """The requests ``owner``'s client declared in its latest ``initialize``."""
        return self._recall(owner) or frozenset()

    def _keep(self, owner: str, declared: Declared, seconds: float) -> None:
        self._known[owner] = (declared, self._clock() + seconds)
        self._known.move_to_end(owner)
        while len(self._known) > self._max:
            self._known.popitem(last=False)

    def _recall(self, owner: str) -> Declared | None:
        """What this process knows of ``owner`` (None: nothing, or too old)."""
        entry = self._known.get(owner)
        if entry is None:
            return None
        if entry[1] < self._clock():
            del self._known[owner]
            return None
        return entry[0]


class RedisClientMemory(ClientMemory):
    """Declarations kept in Redis (``<prefix>:client:<owner>``) for every replica, read at
    most every `CACHE_SECONDS` per caller; a Redis that fails or stalls past ``timeout``
    counts as knowing nothing (the tool falls back, the call goes on)."""

    def __init__(self, client: Redis, *, prefix: str, timeout: float) -> None:
        super().__init__(keep_for=CACHE_SECONDS)
        self._redis = client
        self._prefix = prefix
        self._timeout = timeout

    def _key(self, owner: str) -> str:
        return f"{self._prefix}:client:{owner}"

    async def remember(self, owner: str, declared: Declared) -> None:
        self._keep(owner, declared, CACHE_SECONDS)
        value = _encoded(declared)
        try:
            await asyncio.wait_for(
                self._redis.set(self._key(owner), value, ex=REMEMBER_SECONDS), self._timeout
            )
        except Exception:  # other replicas then know nothing: they fall back
            return

    async def declared(self, owner: str) -> Declared:
        known = self._recall(owner)
        if known is not None:
            return known
        try:
            value = await asyncio.wait_for(self._redis.get(self._key(owner)), self._timeout)
        except Exception:  # knowing nothing: the tool falls back
            return frozenset()
        found = frozenset() if value is None else _decoded(value)
        self._keep(owner, found, CACHE_SECONDS)
        return found
