"""The migration lock: one schema change at a time, across every replica and worker.

Replicas of one deploy start together; each may try to migrate the shared database. Whatever
changes a schema (Alembic revisions, declared tables) runs inside `locked`, and reads what is
already there only once it holds the lock, so the second replica finds the work done.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

from plughost.errors import PlughostError

#: One lock for every track: migrations are rare, and one at a time is easy to reason about.
LOCK_KEY = zlib.crc32(b"plughost-migrations")


class BrokenReferences(PlughostError):
    """A schema change on SQLite left rows whose foreign keys point nowhere; it was undone."""


@contextmanager
def locked(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the migration lock, committed when the block ends.

    PostgreSQL: a transaction-scoped advisory lock, released by the commit; DDL is
    transactional, so a failed migration leaves nothing behind. SQLite: a connection of its own
    in ``BEGIN IMMEDIATE``, which holds the database's write lock (other writers wait up to the
    statement timeout) and makes its DDL transactional too; foreign keys are off for its
    duration, as Alembic's table rebuilds need, and checked before the commit.
    """
    if engine.dialect.name == "sqlite":
        with _sqlite_locked(engine) as conn:
            yield conn
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield conn


@contextmanager
def _sqlite_locked(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    try:
        raw = conn.connection.dbapi_connection
        conn.rollback()
        raw.isolation_level = None  # type: ignore[union-attr]
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
            _check_foreign_keys(conn)
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
    finally:
        conn.invalidate()  # its settings differ from the pool's: never hand it out again
        conn.close()


def _check_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise BrokenReferences(
            f"the schema change left rows whose references point nowhere in {tables}; nothing "
            "was changed"
        )
