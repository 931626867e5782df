"""The key that signs pagination cursors, kept in the database every replica shares.

A cursor one replica issues must be accepted by every other replica behind the load balancer,
and by the same replica after a restart, with nothing for an operator to configure: the first
replica to need the key generates and stores it; the others (and later starts) read it back.
The table is the host's (migration 0002 of its track). Plugins never see the key; they get
`plughost.sdk.pagination.Pages` bound to their tool and tenant.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading

from sqlalchemy import Column, Engine, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from plughost.sdk.pagination import Pages

#: Bytes of key: as long as the HMAC-SHA256 output.
KEY_BYTES = 32
CURSOR_KEY_NAME = "cursor-hmac"

log = logging.getLogger("plughost.cursors")

keys_table = Table(
    "plughost_keys",
    MetaData(),
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
)


class CursorKey:
    """The host's cursor key, and `Pages` made from it for each call.

    `load` runs at start-up; if the database is down then, the host still starts (readiness
    says why) and the first call that makes or reads a cursor loads the key instead.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the key now, at start-up; a database that is down is retried on first use."""
        try:
            self.value()
        except SQLAlchemyError as exc:
            log.warning("cursor key not loaded at start-up (retried on first use): %s", exc)

    def value(self) -> bytes:
        """The key, read from the database (created by the first replica ever to start)."""
        with self._lock:
            if self._value is None:
                self._value = _load_or_create(self._engine)
            return self._value

    def pages(self, tool: str, tenant: str) -> Pages:
        """Cursors for one call of ``tool`` by ``tenant``: valid for that pair only."""
        return Pages(self.value, f"{tool}\x00{tenant}")


def _load_or_create(engine: Engine) -> bytes:
    stored = _read(engine)
    if stored is None:
        value = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
        try:
            with engine.begin() as conn:
                conn.execute(insert(keys_table).values(name=CURSOR_KEY_NAME, value=value))
        except IntegrityError:
            pass  # another replica stored its key first; every replica uses that one
        stored = _read(engine)
    if stored is None:
        raise RuntimeError("the cursor key could not be read back from the database")
    return stored


def _read(engine: Engine) -> bytes | None:
    with engine.connect() as conn:
        value = conn.execute(
            select(keys_table.c.value).where(keys_table.c.name == CURSOR_KEY_NAME)
        ).scalar_one_or_none()
    return base64.b64decode(value) if value is not None else None
