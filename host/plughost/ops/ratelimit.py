"""Per-client rate limits on tool calls, in-process or shared by all replicas through Redis.

The budget is per client (client id, else subject). A tool may have its own limit, a plugin
may have one for all its tools, and everything else falls under the default. Both backends
count a moving window exactly: N parallel calls against a limit of L allow exactly L. Redis
(``redis://``) goes through the moving-window strategy of the `limits` library, so replicas
share one count; ``memory://`` keeps each client's recent hits in a deque in this process,
which costs O(1) per call however high the limit (the `limits` in-memory store copies its
whole window and hops to a thread on every hit).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping

import limits
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


class RateLimiter:
    def __init__(
        self,
        *,
        default: str | None,
        per_plugin: Mapping[str, str],
        per_tool: Mapping[str, str],
        storage_url: str,
        key_prefix: str,
        tool_owner: Mapping[str, str],
    ) -> None:
        self._default = limits.parse(default) if default else None
        self._plugins = {name: limits.parse(value) for name, value in per_plugin.items()}
        self._tools = {name: limits.parse(value) for name, value in per_tool.items()}
        self._owner = tool_owner
        self._local: LocalWindows | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if _is_memory(storage_url):
            self._local = LocalWindows()
        else:
            self.storage = storage_from_string(
                _async_uri(storage_url), **_storage_options(storage_url, key_prefix)
            )
            self._shared = MovingWindowRateLimiter(self.storage)

    def _limit(self, tool: str) -> tuple[limits.RateLimitItem | None, str]:
        if tool in self._tools:
            return self._tools[tool], f"tool:{tool}"
        plugin = self._owner.get(tool)
        if plugin in self._plugins:
            return self._plugins[plugin], f"plugin:{plugin}"
        return self._default, "default"

    async def hit(self, client: str, tool: str) -> float | None:
        """Count one call; return None if allowed, else the seconds until one is allowed."""
        item, bucket = self._limit(tool)
        if item is None:
            return None
        if self._local is not None:
            wait = self._local.hit((bucket, client), item.amount, item.get_expiry())
            return None if wait is None else max(1.0, math.ceil(wait))
        assert self._shared is not None
        if await self._shared.hit(item, bucket, client):
            return None
        stats = await self._shared.get_window_stats(item, bucket, client)
        return max(1.0, math.ceil(stats.reset_time - time.time()))

    async def healthy(self) -> bool:
        if self._local is not None:
            return True
        try:
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


def _storage_options(url: str, key_prefix: str) -> dict[str, str]:
    if "redis" in url.split("://", 1)[0]:
        return {"implementation": "redispy", "key_prefix": key_prefix}
    return {}
