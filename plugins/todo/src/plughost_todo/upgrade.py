"""Upgrading a database of plughost-todo 0.1, whose item ids were shared by every tenant.

0.1 kept items in ``todo_items`` keyed by one id counter for all tenants; 0.2 keys them by
``(tenant_id, id)`` in a new table, because the host never changes an existing table's key.
Every 0.1 id was unique, so each item keeps its id and what agents hold stays valid.
"""

from __future__ import annotations

from sqlalchemy import Engine, Table, column, inspect, select, table, text
from sqlalchemy.exc import DBAPIError

OLD_TABLE = "todo_items"


def move_items_of_0_1(engine: Engine, items: Table) -> int:
    """Move 0.1's rows into ``items`` with their ids and drop ``todo_items``; how many moved.

    Copy and drop are one transaction, so the rows move exactly once and a failure leaves the
    old table as it was. Replicas starting together race here: the loser's copy fails (on the
    dropped table, or as the victim of a deadlock) and its second try finds nothing to move.
    Stop 0.1 replicas before starting this release: one still running would recreate and
    write to ``todo_items`` after the move.
    """
    try:
        return _move(engine, items)
    except DBAPIError:
        return _move(engine, items)


def _move(engine: Engine, items: Table) -> int:
    with engine.begin() as conn:
        if not inspect(conn).has_table(OLD_TABLE):
            return 0
        names = [c.name for c in items.columns]
        old = table(OLD_TABLE, *(column(name) for name in names))
        copy = items.insert().from_select(names, select(*(old.c[name] for name in names)))
        moved = conn.execute(copy).rowcount
        conn.execute(text(f"DROP TABLE {OLD_TABLE}"))
        return moved
