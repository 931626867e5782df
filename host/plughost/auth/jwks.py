"""The issuer's signing keys, fetched with httpx and kept as parsed key objects.

Verification never waits on the network when the key is known. Keys older than ``refresh``
are still used while a refetch runs in the background, so a request never pays for routine
refreshing. An unknown key id (a rotation) triggers a refetch inline, but at most one per
``min_refetch`` seconds however many requests ask, so no caller can make the host hammer the
issuer, and a key the issuer just started signing with is accepted within that interval. A
failed fetch keeps the keys already held and is counted; with no keys at all every token is
refused (fail closed), and `unavailable` tells the caller the issuer, not the token, is at
fault.

Where the document comes from is the one thing that differs by issuer: a real issuer's
(Scalekit, any OIDC) is fetched over HTTP from its JWKS URI; the embedded dev issuer's is read
in-process from its own key store (``load``), the store every replica sharing the data
directory reads, so the host never calls itself over the network and an app with no socket
(a test driving it in-process) verifies its own tokens. Everything after the document (the
parsing, the throttling, the refresh, failing closed) is the same for both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

log = logging.getLogger("plughost.auth.jwks")

SYMMETRIC_KEY_TYPES = {"oct"}


@dataclass(eq=False)
class JWKSCache:
    """One issuer's signing keys, from ``uri`` or, when that is None, the URI ``discover``
    finds (on the first fetch, from the issuer's metadata); or, with ``load``, the document it
    reads in-process (the embedded issuer's key store), ``uri`` then only where it is served."""

    uri: str | None
    _: KW_ONLY
    discover: Callable[[], Awaitable[str]] | None = None
    refresh_seconds: float = 300
    min_refetch_seconds: float = 5
    timeout: float = 5.0
    clock: Callable[[], float] = time.monotonic
    on_fetch: Callable[[bool], None] | None = None
    load: Callable[[], Awaitable[Any]] | None = None
    fetch_count: int = field(default=0, init=False)
    last_error: str | None = field(default=None, init=False)
    #: Wall-clock times, for the operator console: the last fetch attempt, and when each
    #: key id held now was first seen.
    last_fetch_at: datetime | None = field(default=None, init=False)
    first_seen: dict[str, datetime] = field(default_factory=dict, init=False)
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict, init=False)
    _fetched_at: float | None = field(default=None, init=False)
    _attempted_at: float | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _background: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.uri is None and self.discover is None and self.load is None:
            raise ValueError("a JWKS URI or a way to discover it is needed")

    @property
    def source(self) -> str:
        """Where the keys are read from, for the log."""
        return "the embedded issuer's key store" if self.load else str(self.uri)

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
        return self._fetched_at is None or self.clock() - self._fetched_at > self.refresh_seconds

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._refetch())

    async def _refetch(self) -> None:
        async with self._lock:
            now, last = self.clock(), self._attempted_at
            if last is not None and now - last < self.min_refetch_seconds:
                return
            await self._fetch()

    async def _fetch(self) -> None:
        self._attempted_at = self.clock()
        self.last_fetch_at = datetime.now(UTC)
        self.fetch_count += 1
        try:
            if self.load is not None:
                document = await asyncio.wait_for(self.load(), self.timeout)
            else:
                document = await self._download()
            keys = parse_jwks(document)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "JWKS fetch from %s failed, keeping %d cached key(s): %s",
                self.source,
                len(self._keys),
                self.last_error,
            )
            self._count(ok=False)
            return
        removed = sorted(set(self._keys) - set(keys))
        self._keys = keys
        self._fetched_at = self.clock()
        self.first_seen = {kid: self.first_seen.get(kid, self.last_fetch_at) for kid in keys}
        self.last_error = None
        self._count(ok=True)
        log.info("JWKS fetched from %s: key ids %s", self.source, sorted(keys))
        if removed:
            log.warning("signing key(s) %s left the JWKS; tokens they signed are refused", removed)

    async def _download(self) -> Any:
        """The issuer's JWKS document, over HTTP (discovering its URI first if need be)."""
        uri = self.uri
        if uri is None:
            # The constructor refuses a cache with neither a URI nor a way to find the keys.
            assert self.discover is not None
            uri = self.uri = await self.discover()
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            response = await client.get(uri, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()

    def _count(self, *, ok: bool) -> None:
        if self.on_fetch:
            self.on_fetch(ok)


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
