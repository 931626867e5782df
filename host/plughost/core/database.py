"""The host's one SQLAlchemy engine, shared by every plugin and the host's own tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


def default_database_url(data_dir: Path) -> str:
    """The zero-configuration database: an SQLite file in the host's data directory."""
    return f"sqlite:///{data_dir / 'plughost.db'}"


def build_engine(url: str, *, pool_size: int = 5) -> Engine:
    """Create the host's engine, tuned for many short transactions from worker threads."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while one writer commits; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
