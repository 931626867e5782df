"""Revoked sign-ins and sessions, shared by every replica through the host's database.

An access token is a self-contained JWT: nothing stops it working until it expires unless
the resource server is told. The embedded issuer writes a row here when a sign-in ends
(revocation, a replayed code or refresh token) and the console when a browser signs out; every
replica reads them back. A key names what ended (``sid:<sign-in>``, ``jti:<token>``,
``console:<session>``); a row is kept only as long as a token or session it ends could live.

`RevokedKeys` is what a request checks: an in-memory set, brought up to date by one query for
the rows written since the last one, at most once per ``poll_seconds`` per replica (concurrent
requests share that query). A request then costs a set lookup; a revocation is honoured by
every replica within ``poll_seconds``. A request waits for a due query at most
``WAIT_BUDGET_SECONDS`` after it began (a healthy database answers in milliseconds), so a
stalled database never holds up requests that do not use it: they go on with the set as it
was. When the database cannot answer, the set keeps what it had (logged) and the next request
after ``poll_seconds`` tries again: revocation fails open for at most the outage, because a
database that is down already refuses most calls.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio.to_thread
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, delete, select
from sqlalchemy.exc import IntegrityError

log = logging.getLogger("plughost.revocations")

revocations_table = Table(
    "plughost_revocations",
    MetaData(),
    Column("key", String(128), primary_key=True),
    Column("revoked_at", Integer, nullable=False, index=True),
    Column("expires_at", Integer, nullable=False, index=True),
)

#: Rows are re-read this far back on each poll: replicas' clocks differ by a little, and a
#: transaction may commit a moment after the time it wrote.
CLOCK_MARGIN_SECONDS = 30
#: How long after a due query began requests still wait for it.
WAIT_BUDGET_SECONDS = 0.25


class Revocations:
    """The table, on the host's engine. Every method blocks: run it off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def revoke(self, key: str, *, until: int) -> None:
        """Record that ``key`` ended; remembered until ``until`` (a Unix time)."""
        now = int(time.time())
        table = revocations_table
        try:
            with self._engine.begin() as conn:
                conn.execute(delete(table).where(table.c.expires_at < now))
                conn.execute(table.insert().values(key=key, revoked_at=now, expires_at=until))
        except IntegrityError:
            pass  # revoked already (by another request or replica): nothing more to record

    def is_revoked(self, key: str) -> bool:
        """One key, read now (for the issuer's own endpoints; requests use `RevokedKeys`)."""
        table = revocations_table
        with self._engine.connect() as conn:
            found = conn.execute(
                select(table.c.key).where(
                    table.c.key == key, table.c.expires_at >= int(time.time())
                )
            ).first()
        return found is not None

    def written_since(self, since: int) -> list[tuple[str, int]]:
        """Every live key revoked at or after ``since``, with its expiry."""
        table = revocations_table
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(table.c.key, table.c.expires_at).where(
                    table.c.revoked_at >= since, table.c.expires_at >= int(time.time())
                )
            ).all()
        return [(row.key, row.expires_at) for row in rows]


class RevokedKeys:
    """What a request checks: revoked keys held in memory, refreshed at most once per
    ``poll_seconds`` by one query for what was written since the last one."""

    def __init__(
        self,
        revocations: Revocations,
        *,
        poll_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = revocations
        self._poll = poll_seconds
        self._clock = clock
        self._keys: dict[str, int] = {}
        self._polled_at: float | None = None
        self._since = 0
        self._pending: asyncio.Future[None] | None = None
        self._lock = threading.Lock()
        #: How many queries this replica made: one per interval, however many requests.
        self.polls = 0

    async def any_revoked(self, keys: Iterable[str]) -> bool:
        """Whether any of ``keys`` was revoked (as of at most ``poll_seconds`` ago)."""
        wanted = [key for key in keys if key]
        if not wanted:
            return False
        await self._fresh()
        now = time.time()
        return any(self._keys.get(key, 0) >= now for key in wanted)

    async def revoke(self, key: str, *, until: int) -> None:
        """Record ``key`` for every replica, and at once in this one."""
        await anyio.to_thread.run_sync(lambda: self.store.revoke(key, until=until))
        with self._lock:
            self._keys[key] = until

    async def _fresh(self) -> None:
        now = self._clock()
        began = self._polled_at
        if began is not None and now - began < self._poll:
            return
        if began is None or self._pending is None or self._pending.done():
            began = self._polled_at = now
            self._pending = asyncio.ensure_future(self._poll_once())
        remaining = WAIT_BUDGET_SECONDS - (now - began)
        if remaining <= 0:
            return  # the database is slow: go on with the set as it is
        try:
            await asyncio.wait_for(asyncio.shield(self._pending), remaining)
        except TimeoutError:
            return

    async def _poll_once(self) -> None:
        started = int(time.time())
        self.polls += 1
        try:
            rows = await anyio.to_thread.run_sync(self.store.written_since, self._since)
        except Exception as exc:  # the database's errors and deadlines: keep what is known
            log.warning(
                "revoked sign-ins not refreshed (kept %d): %s", len(self._keys), type(exc).__name__
            )
            return
        now = time.time()
        with self._lock:
            self._keys = {k: t for k, t in self._keys.items() if t >= now}
            self._keys.update(rows)
        self._since = started - CLOCK_MARGIN_SECONDS


def token_keys(claims: Mapping[str, Any]) -> list[str]:
    """The keys that revoke a token: its sign-in (``sid``) and the token itself (``jti``)."""
    keys = []
    for claim, prefix in (("sid", "sid:"), ("jti", "jti:")):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            keys.append(prefix + value)
    return keys
