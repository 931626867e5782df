"""The host's one SQLAlchemy engine, shared by every plugin and the host's own tables.

Every way of waiting on the database has a deadline here, so a slow or unreachable database
turns into an error a caller can report instead of a worker thread held forever:

- connecting: ``connect_timeout`` (whole seconds, at least 2: libpq's rule, which psycopg
  follows), covering TCP connect, TLS and authentication;
- checking a connection out of an exhausted pool: ``pool_timeout``;
- a statement: ``statement_timeout``, enforced by the server (PostgreSQL cancels the statement),
  and for SQLite the longest wait on another writer's lock.

- a server (or the network to it) that went away while a connection waited on it: TCP
  keepalives (probes after 5 s of silence, every 2 s, 3 unanswered: gone in about 11 s) and
  ``tcp_user_timeout`` (data unacknowledged for the statement timeout), so libpq sees the
  connection fail instead of waiting on it for the kernel's two hours;
- a transaction left open by a caller that stopped (a call cut off at its deadline while
  holding one): the server ends it after ``idle_in_transaction_session_timeout``, the
  statement timeout, so its locks are not held for ever.

A server whose process hangs while its host keeps the connection alive (it still acknowledges
packets) is bounded by none of these: the statement timeout is the server's own. That bound
belongs to the caller, which runs database work off the event loop and stops waiting at its
own deadline. Errors that say the database is not answering become the call's ``unavailable``
outcome (`plughost.core.db_outage`).
"""

from __future__ import annotations

import math
import sqlite3
import time
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


#: libpq's TCP keepalives: first probe after 5 s of silence, then every 2 s, 3 unanswered.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}


def _postgres_deadlines(url: str, connect_timeout: int, statement_timeout: float) -> dict[str, Any]:
    """psycopg connect arguments for every deadline, keeping any ``options`` the URL sets."""
    statement_ms = max(1, math.ceil(statement_timeout * 1000))
    given = make_url(url).query.get("options", ())
    options = [given] if isinstance(given, str) else list(given)
    options.append(f"-c statement_timeout={statement_ms}")
    options.append(f"-c idle_in_transaction_session_timeout={statement_ms}")
    return {
        "connect_timeout": connect_timeout,
        "options": " ".join(options),
        "tcp_user_timeout": statement_ms,
        **KEEPALIVES,
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while one writer commits; foreign keys are off by default in SQLite.
    # WAL is kept in the file: set it once. Switching modes takes the database's exclusive lock
    # without SQLite's busy wait, so connections opening a new file together (replicas migrating
    # at once) would get "database is locked" at once: only the first switches, the others
    # see "wal" and go on.
    cursor = dbapi_connection.cursor()
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _switch_to_wal(cursor: Any, attempts: int = 50) -> None:
    """Set WAL, waiting for a connection that switches at the same moment (about 5 s at most)."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)
