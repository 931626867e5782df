"""Storage patterns every crm tool shares: ids, lookups, updates, deletes and cursors.

All statements are built with ``ctx.storage``, so each one carries the caller's tenant. A row of
another tenant and a row that never existed are indistinguishable: both raise the same
`NotFound`, with the same message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Connection, Row, Select, Table, and_, or_
from sqlalchemy.exc import IntegrityError

from plughost import Conflict, InvalidInput, NotFound, ToolContext, UTCDateTime
from plughost_crm.models import Deleted


def new_id() -> str:
    """A random id: unlike a counter, it tells nobody how many rows anyone else has."""
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


def not_found(label: str, record_id: str) -> NotFound:
    return NotFound(f"{label} {record_id} does not exist", id=record_id)


def fetch(ctx: ToolContext, conn: Connection, table: Table, label: str, record_id: str) -> Row:
    """The caller's row with this id, or `NotFound`."""
    row = conn.execute(ctx.storage.select(table).where(table.c.id == record_id)).first()
    if row is None:
        raise not_found(label, record_id)
    return row


def update_values(
    given: dict[str, object], clear: Sequence[str] | None, *, nothing: str
) -> dict[str, object]:
    """The values an update writes: the fields given a value, and ``clear``'s set to None.

    A field both given and cleared is refused rather than guessing which was meant, and so is
    an update that changes nothing (with the message ``nothing``).
    """
    values = {field: value for field, value in given.items() if value is not None}
    for field in clear or []:
        if field in values:
            raise InvalidInput(f"{field} is both set and cleared; do one or the other")
        values[field] = None
    if not values:
        raise InvalidInput(nothing)
    return values


def update_versioned(
    ctx: ToolContext,
    conn: Connection,
    table: Table,
    label: str,
    record_id: str,
    expected: int,
    values: dict[str, Any],
) -> Row:
    """Apply ``values`` only if the row is still at version ``expected``; return the new row.

    The version check and the write are one ``UPDATE ... WHERE version = :expected``, so of two
    callers holding the same version exactly one succeeds, and the other gets a `Conflict`
    carrying the current version instead of silently overwriting the first one's change.
    """
    result = conn.execute(
        ctx.storage.update(table)
        .where(table.c.id == record_id, table.c.version == expected)
        .values(**values, version=table.c.version + 1, updated_at=now())
    )
    if result.rowcount == 0:
        current = conn.execute(
            ctx.storage.select(table, table.c.version).where(table.c.id == record_id)
        ).scalar_one_or_none()
        if current is None:
            raise not_found(label, record_id)
        raise Conflict(
            f"{label} {record_id} is at version {current}, not {expected}: someone else changed "
            "it. Get it again, then reapply your change to the current version.",
            id=record_id,
            current_version=current,
            expected_version=expected,
        )
    return fetch(ctx, conn, table, label, record_id)


def set_archived(
    ctx: ToolContext, table: Table, label: str, record_id: str, expected: int, archived: bool
) -> Row:
    """Archive or restore a record as a versioned change, so it conflicts like any other edit."""
    with ctx.storage.transaction() as conn:
        values = {"archived_at": now() if archived else None}
        return update_versioned(ctx, conn, table, label, record_id, expected, values)


def delete_for_good(
    ctx: ToolContext,
    table: Table,
    label: str,
    record_id: str,
    *,
    reference: str,
    detached: Sequence[Table],
    removed: Sequence[Table] = (),
) -> Deleted:
    """Delete a record and the ``removed`` rows pointing at it; unlink the ``detached`` ones.

    ``reference`` is the column through which those tables point at the record. It is all one
    transaction, so a delete that fails leaves nothing half done.
    """
    try:
        with ctx.storage.transaction() as conn:
            removed_rows = sum(
                conn.execute(ctx.storage.delete(t).where(t.c[reference] == record_id)).rowcount
                for t in removed
            )
            detached_rows = sum(detach(ctx, conn, t, reference, record_id) for t in detached)
            deleted = conn.execute(ctx.storage.delete(table).where(table.c.id == record_id))
            if deleted.rowcount == 0:
                raise not_found(label, record_id)
    except IntegrityError:
        raise concurrently_referenced(label, record_id) from None
    return Deleted(id=record_id, activities_removed=removed_rows, records_detached=detached_rows)


def detach(ctx: ToolContext, conn: Connection, table: Table, column: str, record_id: str) -> int:
    """Unlink ``table``'s rows from a record about to be deleted; returns how many.

    The rows changed, so their versions move on: an agent holding an old version must re-read.
    """
    return conn.execute(
        ctx.storage.update(table)
        .where(table.c[column] == record_id)
        .values({column: None, "version": table.c.version + 1, "updated_at": now()})
    ).rowcount


def concurrently_referenced(label: str, record_id: str) -> Conflict:
    """A delete that lost a race with a call linking something new to the record."""
    return Conflict(
        f"{label} {record_id} was linked to a new record while being deleted; nothing was "
        "deleted. Try again.",
        id=record_id,
    )


def paginate(
    ctx: ToolContext,
    conn: Connection,
    stmt: Select[Any],
    *,
    sort: Column[Any],
    cursor: str | None,
    size: int,
) -> tuple[Sequence[Row[Any]], str | None]:
    """One page of ``stmt`` ordered by ``(sort, id)``, and the cursor of the next page.

    Keyset pagination: the cursor holds the last row's sort key, so rows inserted or removed
    between pages never make another row repeat or go missing. ``id`` breaks ties in ``sort``.
    Cursors are the host's (``ctx.pages``): signed and bound to the tool and the caller's
    tenant, so a position read back is one this tool wrote; any other cursor is `InvalidInput`.
    """
    table = sort.table
    after = ctx.pages.after(cursor)
    if after is not None:
        last_sort, last_id = _parse_key(sort, after["sort"]), after["id"]
        stmt = stmt.where(or_(sort > last_sort, and_(sort == last_sort, table.c.id > last_id)))
    rows = conn.execute(stmt.order_by(sort, table.c.id).limit(size + 1)).all()
    return ctx.pages.page(
        rows,
        size,
        lambda row: {"sort": _format_key(row._mapping[sort]), "id": row._mapping[table.c.id]},
    )


def _format_key(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _parse_key(column: Column[Any], raw: str) -> Any:
    return datetime.fromisoformat(raw) if isinstance(column.type, UTCDateTime) else raw
