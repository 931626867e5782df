"""Per-client rate limits on tool calls, in-process or shared by all replicas through Redis.

The budget is per client (client id, else subject). A tool may have its own limit, a plugin
may have one for all its tools, and everything else falls under the default. The moving-window
strategy of the `limits` library keeps the count exact under concurrency: N parallel calls
against a limit of L allow exactly L, also across replicas sharing one Redis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

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
        self.storage = storage_from_string(
            _async_uri(storage_url), **_storage_options(storage_url, key_prefix)
        )
        self._limiter = MovingWindowRateLimiter(self.storage)

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
        if await self._limiter.hit(item, bucket, client):
            return None
        stats = await self._limiter.get_window_stats(item, bucket, client)
        return max(1.0, math.ceil(stats.reset_time - time.time()))

    async def healthy(self) -> bool:
        try:
            return bool(await self.storage.check())
        except Exception:
            return False


def _async_uri(url: str) -> str:
    return url if url.startswith("async+") else f"async+{url}"


def _storage_options(url: str, key_prefix: str) -> dict[str, str]:
    if "redis" in url.split("://", 1)[0]:
        return {"implementation": "redispy", "key_prefix": key_prefix}
    return {}
