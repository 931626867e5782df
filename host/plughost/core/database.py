"""The host's one SQLAlchemy engine, shared by every plugin and the host's own tables.

Every way of waiting on the database has a deadline here, so a slow or unreachable database
turns into an error a caller can report instead of a worker thread held forever:

- connecting: ``connect_timeout`` (whole seconds, at least 2: libpq's rule, which psycopg
  follows), covering TCP connect, TLS and authentication;
- checking a connection out of an exhausted pool: ``pool_timeout``;
- a statement: ``statement_timeout``, enforced by the server (PostgreSQL cancels the statement),
  and for SQLite the longest wait on another writer's lock.

A server that accepted the connection and then stopped answering is bounded by none of these:
libpq waits on the socket for as long as it stays open, and the server cannot enforce a timeout
it never hears about. That bound belongs to the caller, which runs database work off the event
loop and stops waiting at its own deadline.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def build_engine(
    url: str,
    *,
    pool_size: int = 5,
    connect_timeout: int = 5,
    statement_timeout: float = 30,
    pool_timeout: float = 5,
) -> Engine:
    """Create the host's engine, tuned for many short transactions from worker threads."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        # SQLite's only wait is on another connection's lock; it must not outlast a statement.
        lock_wait = {"check_same_thread": False, "timeout": statement_timeout}
        engine = create_engine(url, connect_args=lock_wait)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = (
        _postgres_deadlines(url, connect_timeout, statement_timeout)
        if backend == "postgresql"
        else {}
    )
    return create_engine(
        url,
        pool_size=pool_size,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _postgres_deadlines(url: str, connect_timeout: int, statement_timeout: float) -> dict[str, Any]:
    """psycopg connect arguments for both deadlines, keeping any ``options`` the URL sets."""
    statement_ms = max(1, math.ceil(statement_timeout * 1000))
    given = make_url(url).query.get("options", ())
    options = [given] if isinstance(given, str) else list(given)
    options.append(f"-c statement_timeout={statement_ms}")
    return {"connect_timeout": connect_timeout, "options": " ".join(options)}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while one writer commits; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
