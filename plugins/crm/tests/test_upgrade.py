"""Upgrading a database plughost-crm 0.1 made: every row survives, amounts keep their value.

`release_0_1` builds the tables and rows 0.1 left (in an empty SQLite or, with
``PLUGHOST_TEST_DATABASE_URL``, PostgreSQL database); the host adopts them at revision 0001 and
migration 0002 stores each amount in its currency's minor unit.
"""

from __future__ import annotations

from decimal import Decimal

import release_0_1 as old
from conftest import Agent
from sqlalchemy import MetaData, Table, select

from plughost_crm.schema import deals


def rows(engine, table: Table, leave_out: tuple[str, ...] = ()) -> list[tuple]:
    """Every row of ``table`` as the database holds it now, read with 0.1's declaration."""
    columns = [c for c in table.columns if c.name not in leave_out]
    with engine.connect() as conn:
        return sorted(conn.execute(select(*columns)).all())


def test_every_row_of_0_1_survives_and_amounts_keep_their_value(
    plughost_database, plughost_factory
):
    db = plughost_database
    old.create(db.engine)
    amounts = ("amount_minor",)
    before = {t.name: rows(db.engine, t, amounts) for t in old.metadata.sorted_tables}

    host = plughost_factory(plugins=["crm"], data_dir=db.data_dir, settings=db.settings)

    assert db.revision("crm") == "0002"
    after = {t.name: rows(db.engine, t, amounts) for t in old.metadata.sorted_tables}
    assert after == before
    acme, globex = Agent(host.client(tenant="acme")), Agent(host.client(tenant="globex"))
    shown = {
        d["id"]: (d["currency"], d["amount"])
        for agent in (acme, globex)
        for d in agent.ok("list_deals")["deals"]
    }
    assert shown == {deal_id: (cur, amount) for deal_id, _, cur, _, amount in old.DEALS}
    with db.engine.connect() as conn:
        stored = dict(conn.execute(select(deals.c.id, deals.c.amount_minor)).all())
    assert stored["d1" * 16] == 1000  # JPY in yen
    assert stored["d3" * 16] == 1500  # KWD in thousandths
    assert stored["d2" * 16] == 1234  # JPY 12.34 cannot be yen: kept in hundredths

    lead = {s["stage"]: s for s in acme.ok("pipeline_summary")["stages"]}["lead"]
    assert lead["totals"] == {"EUR": "1234.50", "JPY": "1012.34", "KWD": "1.500"}
    assert Decimal(lead["totals"]["JPY"]) == Decimal("1000") + Decimal("12.34")
    contact = acme.ok("get_contact", id=old.ANN)
    assert contact["contact"]["title"] == "CTO"
    assert [a["summary"] for a in contact["latest_activities"]] == ["intro"]

    made = acme.ok("create_deal", title="new", amount="2500", currency="JPY")
    assert made["amount"] == "2500"
    host.restart()
    assert acme.ok("list_deals")["deals"][-1]["amount"] == "2500"


def test_a_downgrade_to_0_1_restores_hundredths(plughost_database):
    db = plughost_database
    old.create(db.engine)
    before = rows(db.engine, old.deals)
    db.upgrade("crm")
    db.downgrade("crm", "0001")
    assert rows(db.engine, old.deals) == before
    reflected = Table("crm_deals", MetaData(), autoload_with=db.engine)
    assert "amount_digits" not in reflected.c


def test_a_downgrade_refuses_amounts_0_1_cannot_hold(plughost_database, plughost_factory):
    db = plughost_database
    db.upgrade("crm")
    host = plughost_factory(plugins=["crm"], data_dir=db.data_dir, settings=db.settings)
    Agent(host.client(tenant="acme")).ok(
        "create_deal", title="fils", amount="0.125", currency="KWD"
    )
    host.stop()
    try:
        db.downgrade("crm", "0001")
    except RuntimeError as exc:
        assert "1 deal(s) have amounts with more than 2 decimal places" in str(exc)
    else:
        raise AssertionError("the downgrade should have been refused")
    assert db.revision("crm") == "0002"
