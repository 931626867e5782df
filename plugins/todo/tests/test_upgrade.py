"""Upgrade from 0.1: items in the old table keep their ids and move to the per-tenant table.

0.1 stored items in ``todo_items`` under one id counter shared by every tenant. The test builds
that table as 0.1 declared it, fills it with two tenants' items through the host's own engine
(so it runs on SQLite and, with ``PLUGHOST_TEST_DATABASE_URL``, on PostgreSQL), and restarts the
host: start-up must move the rows over, once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, inspect

from plughost import UTCDateTime

WRITE = ["todo:read", "todo:write"]
CREATED = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
UPDATED = datetime(2024, 5, 2, 11, 0, tzinfo=UTC)
# (tenant, id, title, completed): ids from the one counter 0.1 shared between tenants.
OLD_ITEMS = [
    ("acme", 1, "acme first", False),
    ("acme", 2, "acme second", True),
    ("globex", 3, "globex first", False),
    ("acme", 4, "acme third", False),
    ("globex", 5, "globex second", False),
]


def old_table() -> Table:
    """``todo_items`` exactly as plughost-todo 0.1 declared it."""
    return Table(
        "todo_items",
        MetaData(),
        Column("tenant_id", String(255), nullable=False, index=True),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("title", String(200), nullable=False),
        Column("notes", Text, nullable=False, default=""),
        Column("completed", Boolean, nullable=False, default=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    )


def test_items_of_the_previous_release_keep_their_ids_per_tenant(plughost_factory):
    host = plughost_factory(plugins=["todo"])
    engine = host.host.engine
    table = old_table()
    table.create(engine)
    with engine.begin() as conn:
        for tenant, item_id, title, completed in OLD_ITEMS:
            conn.execute(
                table.insert().values(
                    tenant_id=tenant,
                    id=item_id,
                    title=title,
                    notes=f"notes of {title}",
                    completed=completed,
                    created_at=CREATED,
                    updated_at=UPDATED,
                )
            )
    host.restart()

    acme = host.client(WRITE, tenant="acme")
    globex = host.client(WRITE, tenant="globex")
    assert acme.call("todo_get", id=2).data == {
        "id": 2,
        "title": "acme second",
        "notes": "notes of acme second",
        "completed": True,
        "created_at": "2024-05-01T09:30:00Z",
        "updated_at": "2024-05-02T11:00:00Z",
    }
    assert [i["id"] for i in acme.call("todo_list").data["items"]] == [1, 2, 4]
    assert [i["id"] for i in globex.call("todo_list").data["items"]] == [3, 5]
    assert acme.call("todo_get", id=3).error["code"] == "not_found"
    assert "todo_items" not in inspect(engine).get_table_names()

    assert acme.call("todo_create", title="after the upgrade").data["id"] == 5
    assert globex.call("todo_create", title="after the upgrade").data["id"] == 6
    assert acme.call("todo_delete", id=1).ok
    host.restart()
    assert acme.call("todo_get", id=1).error["code"] == "not_found"
    assert [i["id"] for i in acme.call("todo_list").data["items"]] == [2, 4, 5]
