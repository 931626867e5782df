"""Per-caller rate limits on tool calls, in-process or shared by all replicas through Redis.

The budget belongs to each user of each client (``key_by="client_and_subject"``), or to each
client as a whole (``key_by="client"``: client id, else subject). A tool may have its own limit,
a plugin may have one for all its tools, and everything else falls under the default. Both
backends count a moving window exactly: N parallel calls against a limit of L allow exactly L.
Redis (``redis://``) goes through the moving-window strategy of the `limits` library, so
replicas share one count; ``memory://`` keeps each caller's recent hits in a deque in this
process, which costs O(1) per call however high the limit (the `limits` in-memory store copies
its whole window and hops to a thread on every hit).

Redis is a dependency on every call's path, so every wait on it has a deadline: a failure or a
timeout raises `RateLimitUnavailable`, and the caller applies the operator's fail-open or
fail-closed policy. After a failure a `CircuitBreaker` skips the storage for
``storage_retry_seconds`` (raising at once), so a stalled Redis costs one call the timeout
rather than every call.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Literal, Self, overload
from urllib.parse import quote, urlsplit, urlunsplit

import limits
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from plughost.ops.breaker import CircuitBreaker
from plughost.settings import RateLimitSettings

BudgetKey = Literal["client_and_subject", "client"]


class RateLimitUnavailable(Exception):
    """The shared rate-limit storage failed or did not answer in time, so nothing was counted.

    ``storage`` names it without credentials; whether the call proceeds is the caller's policy.
    ``skipped`` is True when the storage was not even tried, because it failed moments ago.
    ``own_limit`` is True when the budget was the target's own (a tool's or its plugin's), not
    the default or the list budget every caller has: the one a fail-closed policy refuses.
    """

    def __init__(
        self, storage: str, reason: str, *, skipped: bool = False, own_limit: bool = True
    ) -> None:
        super().__init__(
            f"rate-limit storage {storage} {reason}; "
            "check that it is running and reachable from this replica"
        )
        self.storage = storage
        self.reason = reason
        self.skipped = skipped
        self.own_limit = own_limit


class RateLimiter:
    @classmethod
    def from_settings(cls, settings: RateLimitSettings, tool_owner: Mapping[str, str]) -> Self:
        """Budgets as the operator set them; ``tool_owner`` maps each tool to its plugin."""
        return cls(
            default=settings.default,
            per_plugin=settings.plugins,
            per_tool=settings.tools,
            storage_url=settings.storage_url,
            key_prefix=settings.key_prefix,
            tool_owner=tool_owner,
            storage_timeout=settings.storage_timeout_seconds,
            storage_retry=settings.storage_retry_seconds,
            key_by=settings.key,
            lists=settings.lists,
        )

    def __init__(
        self,
        *,
        default: str | None,
        per_plugin: Mapping[str, str],
        per_tool: Mapping[str, str],
        storage_url: str,
        key_prefix: str,
        tool_owner: Mapping[str, str],
        storage_timeout: float = 0.5,
        storage_retry: float = 5.0,
        key_by: BudgetKey = "client_and_subject",
        lists: str | None = None,
    ) -> None:
        self._default = limits.parse(default) if default else None
        self._lists = limits.parse(lists) if lists else None
        self._plugins = {name: limits.parse(value) for name, value in per_plugin.items()}
        self._tools = {name: limits.parse(value) for name, value in per_tool.items()}
        self._owner = tool_owner
        self._timeout = storage_timeout
        self._breaker = CircuitBreaker(storage_retry)
        self._key_by: BudgetKey = key_by
        self._storage_name = _without_credentials(storage_url)
        self._local: LocalWindows | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if _is_memory(storage_url):
            self._local = LocalWindows()
        else:
            storage = storage_from_string(
                _async_uri(storage_url),
                wrap_exceptions=True,
                **_storage_options(storage_url, key_prefix, storage_timeout),
            )
            # An async+ scheme (`_async_uri`) always gives one of limits' asyncio storages.
            assert isinstance(storage, AsyncStorage)
            self.storage = storage
            self._shared = MovingWindowRateLimiter(self.storage)

    def _limit(self, tool: str) -> tuple[limits.RateLimitItem | None, str]:
        if tool in self._tools:
            return self._tools[tool], f"tool:{tool}"
        plugin = self._owner.get(tool)
        if plugin in self._plugins:
            return self._plugins[plugin], f"plugin:{plugin}"
        return self._default, "default"

    @overload
    async def hit(self, *, client: str | None, subject: str, tool: str) -> float | None: ...

    @overload
    async def hit(self, caller: str, tool: str, /) -> float | None: ...

    async def hit(
        self, *positional: str, client: str | None = None, subject: str = "", tool: str = ""
    ) -> float | None:
        """Count one call; return None if allowed, else the seconds until one is allowed.

        Raises `RateLimitUnavailable` if the shared storage fails or does not answer within the
        storage timeout. The positional form ``hit(caller, tool)``, from before budgets had a
        subject, counts ``caller`` as both client and subject.
        """
        if positional:
            client, tool = positional
            subject = client
        item, bucket = self._limit(tool)
        return await self._count(item, bucket, _identity(client, subject, self._key_by))

    async def hit_list(self, *, client: str | None, subject: str) -> float | None:
        """Count one list request (tools, prompts, resources) against the caller's list
        budget, shared by every kind of list; None if allowed, else the seconds to wait."""
        return await self._count(self._lists, "list", _identity(client, subject, self._key_by))

    async def _count(
        self, item: limits.RateLimitItem | None, bucket: str, identity: str
    ) -> float | None:
        """One hit on ``bucket``'s budget ``item`` for ``identity``, within the deadline."""
        if item is None:
            return None
        if self._local is not None:
            wait = self._local.hit((bucket, identity), item.amount, item.get_expiry())
            return None if wait is None else max(1.0, math.ceil(wait))
        own = bucket not in ("default", "list")
        if not self._breaker.allow():
            ago = self._breaker.seconds_since_failure()
            reason = f"failed {ago:.1f} s ago and is not retried yet"
            raise RateLimitUnavailable(self._storage_name, reason, skipped=True, own_limit=own)
        try:
            async with asyncio.timeout(self._timeout):
                wait = await self._hit_shared(item, bucket, identity)
        except TimeoutError:
            self._breaker.failed()
            reason = f"did not answer within {self._timeout:g} s"
            raise RateLimitUnavailable(self._storage_name, reason, own_limit=own) from None
        except StorageError as exc:
            self._breaker.failed()
            cause = exc.storage_error
            reason = f"failed ({type(cause).__name__}: {cause})"
            raise RateLimitUnavailable(self._storage_name, reason, own_limit=own) from exc
        self._breaker.succeeded()
        return wait

    async def _hit_shared(
        self, item: limits.RateLimitItem, bucket: str, identity: str
    ) -> float | None:
        assert self._shared is not None
        if await self._shared.hit(item, bucket, identity):
            return None
        stats = await self._shared.get_window_stats(item, bucket, identity)
        return max(1.0, math.ceil(stats.reset_time - time.time()))

    async def healthy(self) -> bool:
        """Whether the storage answers a ping within the storage timeout."""
        if self._local is not None:
            return True
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self.storage.check())
        except Exception:
            return False


class LocalWindows:
    """Exact moving windows in this process: per key, the times of the hits inside the window.

    A hit is allowed while fewer than ``limit`` hits fall in the last ``window`` seconds. Every
    step is synchronous, so concurrent requests on one event loop cannot overshoot the limit.
    Keys whose hits have all expired are dropped at most once per ``sweep_seconds``.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sweep_seconds: float = 60
    ) -> None:
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._sweep_seconds = sweep_seconds
        self._swept_at = clock()
        self._longest = 0.0

    def __len__(self) -> int:
        """How many (bucket, client) keys are tracked."""
        return len(self._hits)

    def hit(self, key: tuple[str, str], limit: int, window: float) -> float | None:
        """Record a hit and return None, or return the seconds until the key may hit again."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        cutoff = now - window
        while hits and hits[0] < cutoff:
            hits.popleft()
        if len(hits) >= limit:
            return hits[-limit] + window - now
        hits.append(now)
        self._longest = max(self._longest, window)
        if now - self._swept_at > self._sweep_seconds:
            self._sweep(now)
        return None

    def _sweep(self, now: float) -> None:
        cutoff = now - self._longest
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] < cutoff]:
            del self._hits[key]
        self._swept_at = now


def _is_memory(url: str) -> bool:
    return url.split("://", 1)[0] in ("memory", "async+memory")


def _async_uri(url: str) -> str:
    return url if url.startswith("async+") else f"async+{url}"


def _storage_options(url: str, key_prefix: str, timeout: float) -> dict[str, Any]:
    """Redis client options: no wait beyond ``timeout``, and one immediate retry.

    The retry replaces a pooled connection the server has closed; redis-py's default (ten
    retries with backoff) would wait for seconds on a server that is down.
    """
    if "redis" not in url.split("://", 1)[0]:
        return {}
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return {
        "implementation": "redispy",
        "key_prefix": key_prefix,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
    }


def _identity(client: str | None, subject: str, key_by: BudgetKey) -> str:
    """The budget's key. Parts are quoted and joined by '/', so no caller can spell another's."""
    if key_by == "client" and client:
        return quote(client, safe="")
    return f"{quote(client or '', safe='')}/{quote(subject, safe='')}"


def _without_credentials(url: str) -> str:
    """The storage URL fit for messages and logs: no user, password or query parameters."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment=""))
