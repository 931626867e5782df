"""Create plugins' tables and add new nullable columns at start-up."""

from __future__ import annotations

import time

from sqlalchemy import Engine, Table, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateColumn


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
