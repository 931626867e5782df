"""Plugin storage: one SQLAlchemy engine for the host, rows partitioned by tenant.

Plugins declare tables with `tenant_table` and reach them through `TenantStorage`, whose
statement builders always carry the caller's tenant: a select, update or delete built there
cannot see another tenant's rows, and an insert cannot write into another tenant.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Delete,
    Engine,
    Insert,
    MetaData,
    Select,
    String,
    Table,
    Update,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateColumn
from sqlalchemy.types import TypeDecorator

TENANT_COLUMN = "tenant_id"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored and returned in UTC, on every database (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def tenant_table(name: str, metadata: MetaData, *columns: Any, **kwargs: Any) -> Table:
    """Declare a plugin table whose rows belong to a tenant.

    Adds an indexed, non-null ``tenant_id`` column in front of ``columns``. ``name`` must start
    with the plugin's namespace and an underscore (``todo_items``); the host checks this at load.
    """
    tenant = Column(TENANT_COLUMN, String(255), nullable=False, index=True)
    return Table(name, metadata, tenant, *columns, **kwargs)


class TenantStorage:
    """The storage a tool call sees: the host's database, narrowed to the caller's tenant."""

    def __init__(self, engine: Engine, tenant_id: str) -> None:
        self._engine = engine
        self.tenant_id = tenant_id

    def select(self, table: Table, *columns: Any) -> Select[Any]:
        """``SELECT`` from ``table`` (all columns unless named), limited to this tenant."""
        stmt = select(*columns) if columns else select(table)
        return stmt.where(table.c[TENANT_COLUMN] == self.tenant_id)

    def insert(self, table: Table) -> Insert:
        """``INSERT`` into ``table`` with the tenant filled in."""
        return insert(table).values({TENANT_COLUMN: self.tenant_id})

    def update(self, table: Table) -> Update:
        """``UPDATE`` ``table``, limited to this tenant's rows."""
        return update(table).where(table.c[TENANT_COLUMN] == self.tenant_id)

    def delete(self, table: Table) -> Delete:
        """``DELETE`` from ``table``, limited to this tenant's rows."""
        return delete(table).where(table.c[TENANT_COLUMN] == self.tenant_id)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self._engine.begin() as conn:
            yield conn


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


def ensure_schema(engine: Engine, tables: list[Table]) -> list[str]:
    """Create missing tables and add missing nullable (or defaulted) columns.

    This is the upgrade path for a plugin release that adds a column: existing rows are kept and
    the new column starts NULL (or at its server default). Replicas starting together may race
    here: on PostgreSQL an advisory lock serialises them; elsewhere a losing replica retries
    after the winner's change and finds nothing left to do. Returns a line per change made.
    """
    if not tables:
        return []
    for attempt in range(3):
        try:
            return _ensure_schema(engine, tables)
        except DBAPIError:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
    return []


def _ensure_schema(engine: Engine, tables: list[Table]) -> list[str]:
    changes: list[str] = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('plughost_schema'))"))
        inspector = inspect(conn)
        existing = set(inspector.get_table_names())
        for table in tables:
            if table.name not in existing:
                table.create(conn)
                changes.append(f"created table {table.name}")
                continue
            present = {col["name"] for col in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable and column.server_default is None:
                    raise RuntimeError(
                        f"table {table.name} needs new column {column.name}, which is NOT NULL "
                        "without a server_default; give it one so existing rows can be kept"
                    )
                ddl = CreateColumn(column).compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
                changes.append(f"added column {table.name}.{column.name}")
    return changes
