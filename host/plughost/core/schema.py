"""Declared tables: a plugin without migrations gets its missing tables and nullable columns.

This is the rule every plugin lived by before migrations (`plughost.core.migrations`), kept for
plugins that ship none: a table the plugin declares and the database lacks is created, and a
declared column a table lacks is added when existing rows can take it (nullable, or with a server
default). Nothing is ever changed or dropped; anything more needs a migration. The DDL is
Alembic's, built from the column objects, never from formatted strings.
"""

from __future__ import annotations

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Engine, Table, inspect

from plughost.core.migration_lock import locked
from plughost.errors import PlughostError


class UnaddableColumn(PlughostError):
    """A declared column cannot be added to a table that already has rows to keep."""


def ensure_schema(engine: Engine, tables: list[Table]) -> list[str]:
    """Create missing tables and add missing nullable (or defaulted) columns, under the lock.

    Returns a line per change made; replicas starting together take turns and the later ones
    find nothing left to do.
    """
    if not tables:
        return []
    with locked(engine) as conn:
        return apply_declared(conn, tables)


def declared_changes(conn: Connection, tables: list[Table]) -> list[str]:
    """What `apply_declared` would do, without doing it."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    changes: list[str] = []
    for table in tables:
        if table.name not in existing:
            changes.append(f"create table {table.name}")
            continue
        present = {col["name"] for col in inspector.get_columns(table.name)}
        changes += [
            f"add column {table.name}.{c.name}" for c in table.columns if c.name not in present
        ]
    return changes


def apply_declared(conn: Connection, tables: list[Table]) -> list[str]:
    """Create the missing tables and columns on ``conn``, which holds the migration lock."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    ops = Operations(MigrationContext.configure(conn))
    changes: list[str] = []
    for table in tables:
        if table.name not in existing:
            table.create(conn)
            changes.append(f"created table {table.name}")
            continue
        present = {col["name"] for col in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                ops.add_column(table.name, _addable(table, column))
                changes.append(f"added column {table.name}.{column.name}")
    return changes


def _addable(table: Table, column: Column) -> Column:  # type: ignore[type-arg]
    """A copy of ``column`` to add, refused when the rows already there could not hold it."""
    if not column.nullable and column.server_default is None:
        raise UnaddableColumn(
            f"table {table.name} needs new column {column.name}, which is NOT NULL without a "
            "server_default; give it one, or ship a migration that fills it "
            "(Plugin(migrations=...))"
        )
    return column._copy()
