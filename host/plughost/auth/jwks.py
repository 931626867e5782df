"""The issuer's signing keys, fetched with httpx and kept as parsed key objects.

Verification never waits on the network when the key is known. Keys older than ``refresh``
are still used while a refetch runs in the background, so a request never pays for routine
refreshing. An unknown key id (a rotation) triggers a refetch inline, but at most one per
``min_refetch`` seconds however many requests ask, so no caller can make the host hammer the
issuer, and a key the issuer just started signing with is accepted within that interval. A
failed fetch keeps the keys already held and is counted; with no keys at all every token is
refused (fail closed), and `unavailable` tells the caller the issuer, not the token, is at
fault.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

log = logging.getLogger("plughost.auth.jwks")

SYMMETRIC_KEY_TYPES = {"oct"}


class JWKSCache:
    def __init__(
        self,
        uri: str | None,
        *,
        discover: Callable[[], Awaitable[str]] | None = None,
        refresh_seconds: float = 300,
        min_refetch_seconds: float = 5,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_fetch: Callable[[bool], None] | None = None,
    ) -> None:
        if uri is None and discover is None:
            raise ValueError("a JWKS URI or a way to discover it is needed")
        self._uri = uri
        self._discover = discover
        self._refresh = refresh_seconds
        self._min_refetch = min_refetch_seconds
        self._timeout = timeout
        self._clock = clock
        self._on_fetch = on_fetch
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self.fetch_count = 0
        self.last_error: str | None = None
        #: Wall-clock times, for the operator console: the last fetch attempt, and when each
        #: key id held now was first seen.
        self.last_fetch_at: datetime | None = None
        self.first_seen: dict[str, datetime] = {}

    @property
    def uri(self) -> str | None:
        return self._uri

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    @property
    def unavailable(self) -> bool:
        """No keys are held because fetching them failed: the issuer is down, not the token."""
        return not self._keys and self.last_error is not None

    def holds(self, kid: str | None) -> bool:
        """Whether the key a token was verified with is still published."""
        return self._lookup(kid) is not None

    async def get(self, kid: str | None) -> jwt.PyJWK | None:
        """The key for ``kid`` (or the only key, for tokens without ``kid``), or None."""
        key = self._lookup(kid)
        if key is None:
            await self._refetch()
            return self._lookup(kid)
        if self._stale():
            self._refresh_in_background()
        return key

    async def ensure(self) -> bool:
        """Whether keys are held, trying a (throttled) fetch when none are."""
        if not self._keys:
            await self._refetch()
        return bool(self._keys)

    async def refresh(self) -> None:
        """Fetch now, regardless of throttling (start-up and ``plughost check``)."""
        async with self._lock:
            await self._fetch()

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._refresh

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._refetch())

    async def _refetch(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refetch:
                return
            await self._fetch()

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        self.last_fetch_at = datetime.now(UTC)
        self.fetch_count += 1
        try:
            uri = self._uri
            if uri is None:
                # The constructor refuses a cache with neither a URI nor a way to discover it.
                assert self._discover is not None
                uri = self._uri = await self._discover()
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
                response = await client.get(uri, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = parse_jwks(response.json())
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "JWKS fetch from %s failed, keeping %d cached key(s): %s",
                self.uri,
                len(self._keys),
                self.last_error,
            )
            self._count(ok=False)
            return
        removed = sorted(set(self._keys) - set(keys))
        self._keys = keys
        self._fetched_at = self._clock()
        self.first_seen = {kid: self.first_seen.get(kid, self.last_fetch_at) for kid in keys}
        self.last_error = None
        self._count(ok=True)
        log.info("JWKS fetched from %s: key ids %s", self.uri, sorted(keys))
        if removed:
            log.warning("signing key(s) %s left the JWKS; tokens they signed are refused", removed)

    def _count(self, *, ok: bool) -> None:
        if self._on_fetch:
            self._on_fetch(ok)


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """Parse a JWKS document into key objects, skipping symmetric and unusable keys."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") in SYMMETRIC_KEY_TYPES:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            log.warning("skipping unusable JWKS key %r", entry.get("kid"))
            continue
        keys[entry.get("kid") or key.key_id or ""] = key
    return keys
