"""Upgrade from 0.1: a database plughost-todo 0.1 made keeps every item, with its id.

0.1 stored items in ``todo_items`` under one id counter shared by every tenant, in a table the
host created from 0.1's declaration (before todo had migrations). The test builds exactly that
table in an empty database (SQLite, or PostgreSQL with ``PLUGHOST_TEST_DATABASE_URL``), fills it
with two tenants' items, and starts 0.2 on it: the host adopts the table at the baseline
revision and migration 0002 moves every row, once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, inspect, select

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


def fill_as_0_1(engine) -> list[tuple]:
    """Create 0.1's table with its rows; returns every row as 0.1 stored it."""
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
        return sorted(conn.execute(select(table)).all())


def test_every_item_of_0_1_survives_with_its_id(plughost_database, plughost_factory):
    db = plughost_database
    before = fill_as_0_1(db.engine)
    host = plughost_factory(plugins=["todo"], data_dir=db.data_dir, settings=db.settings)

    assert db.revision("todo") == "0002"
    tables = inspect(db.engine).get_table_names()
    assert "todo_items" not in tables
    moved = old_table().to_metadata(MetaData(), name="todo_tenant_items")
    with db.engine.connect() as conn:
        after = sorted(conn.execute(select(moved)))
    assert after == before

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

    assert acme.call("todo_create", title="after the upgrade").data["id"] == 5
    assert globex.call("todo_create", title="after the upgrade").data["id"] == 6
    assert acme.call("todo_delete", id=1).ok
    host.restart()
    assert acme.call("todo_get", id=1).error["code"] == "not_found"
    assert [i["id"] for i in acme.call("todo_list").data["items"]] == [2, 4, 5]


def test_a_downgrade_to_0_1_and_back_keeps_every_item(plughost_database):
    db = plughost_database
    before = fill_as_0_1(db.engine)
    db.upgrade("todo")
    db.downgrade("todo", "0001")
    with db.engine.connect() as conn:
        assert sorted(conn.execute(select(old_table()))) == before
    db.upgrade("todo")
    assert db.revision("todo") == "0002"


def test_a_downgrade_refuses_ids_that_two_tenants_share(plughost_database, plughost_factory):
    db = plughost_database
    db.upgrade("todo")
    host = plughost_factory(plugins=["todo"], data_dir=db.data_dir, settings=db.settings)
    assert host.client(WRITE, tenant="acme").call("todo_create", title="a").data["id"] == 1
    assert host.client(WRITE, tenant="globex").call("todo_create", title="g").data["id"] == 1
    host.stop()
    try:
        db.downgrade("todo", "0001")
    except RuntimeError as exc:
        assert "ids [1] belong to items of several tenants" in str(exc)
    else:
        raise AssertionError("the downgrade should have been refused")
    assert db.revision("todo") == "0002"


def test_a_database_an_early_0_2_build_made_is_adopted_as_it_is(
    plughost_database, plughost_factory
):
    """0.2 builds from before migrations made the per-tenant tables themselves: kept as found."""
    from plughost_todo import counters, items

    db = plughost_database
    items.metadata.create_all(db.engine, tables=[items, counters])
    with db.engine.begin() as conn:
        conn.execute(
            items.insert().values(
                tenant_id="acme",
                id=7,
                title="early",
                notes="",
                completed=False,
                created_at=CREATED,
                updated_at=UPDATED,
            )
        )
    host = plughost_factory(plugins=["todo"], data_dir=db.data_dir, settings=db.settings)
    assert db.revision("todo") == "0002"
    assert host.client(WRITE, tenant="acme").call("todo_get", id=7).data["title"] == "early"
