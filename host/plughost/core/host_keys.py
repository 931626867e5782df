"""Secret keys the host keeps in the database every replica shares, each under its own name.

A key one replica uses must be the one every other replica (and the same replica after a
restart) uses, with nothing for an operator to configure: the first replica to need a key
generates and stores it; the others read it back. The table is the host's (migration 0002 of
its track). The cursor-signing key (`plughost.core.cursor_key`), the console's session key
(`plughost.console.session`) and the key sealing request state (`plughost.core.asking`) live
here.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading

from sqlalchemy import Column, Engine, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

#: Bytes of key: as long as an HMAC-SHA256 output.
KEY_BYTES = 32

log = logging.getLogger("plughost.keys")

keys_table = Table(
    "plughost_keys",
    MetaData(),
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
)


class StoredKey:
    """One named key, read from the database once per process (created by the first replica).

    `load` runs at start-up; if the database is down then, the host still starts (readiness
    says why) and the first use loads the key instead.
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self.name = name
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the key now, at start-up; a database that is down is retried on first use."""
        try:
            self.value()
        except SQLAlchemyError as exc:
            log.warning("key %s not loaded at start-up (retried on first use): %s", self.name, exc)

    def value(self) -> bytes:
        """The key's bytes. Blocks on the database the first time: call it off the event loop."""
        with self._lock:
            if self._value is None:
                self._value = _load_or_create(self._engine, self.name)
            return self._value

    @property
    def loaded(self) -> bool:
        """Whether `value` answers without touching the database."""
        return self._value is not None


def _load_or_create(engine: Engine, name: str) -> bytes:
    stored = _read(engine, name)
    if stored is None:
        value = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
        try:
            with engine.begin() as conn:
                conn.execute(insert(keys_table).values(name=name, value=value))
        except IntegrityError:
            pass  # another replica stored its key first; every replica uses that one
        stored = _read(engine, name)
    if stored is None:
        raise RuntimeError(f"the {name} key could not be read back from the database")
    return stored


def _read(engine: Engine, name: str) -> bytes | None:
    with engine.connect() as conn:
        value = conn.execute(
            select(keys_table.c.value).where(keys_table.c.name == name)
        ).scalar_one_or_none()
    return base64.b64decode(value) if value is not None else None
