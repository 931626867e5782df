"""Plugin tables and the storage a tool sees: rows partitioned by tenant.

Plugins declare tables with `Plugin.table` and reach them through `TenantStorage`, whose
statement builders always carry the caller's tenant: a select, update or delete built there
cannot see another tenant's rows, and an insert cannot write into another tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Delete,
    Engine,
    Insert,
    Select,
    String,
    Table,
    Update,
    delete,
    insert,
    select,
    update,
)
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


def tenant_column() -> Column[str]:
    """The indexed, non-null ``tenant_id`` column `Plugin.table` puts in front of every table."""
    return Column(TENANT_COLUMN, String(255), nullable=False, index=True)


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
