"""Tenant isolation: another tenant's rows cannot be read, changed, linked to or inferred."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def acme(connect):
    """Tenant acme's agent and a small CRM: a company, a contact and a deal with activities."""
    agent = connect(tenant="acme")
    company = agent.ok("create_company", name="Acme", domain="acme.example")
    contact = agent.ok(
        "create_contact", name="Road Runner", email="beep@acme.example", company_id=company["id"]
    )
    deal = agent.ok(
        "create_deal", title="Seeds", amount="500", currency="USD", contact_id=contact["id"]
    )
    agent.ok("log_activity", kind="call", summary="secret call", contact_id=contact["id"])
    return agent, {"company": company, "contact": contact, "deal": deal}


@pytest.fixture
def globex(connect):
    return connect(tenant="globex")


def _same_shape(error: dict, absent: dict, record_id: str, absent_id: str) -> bool:
    """Errors equal once the ids themselves are swapped out: nothing else tells them apart."""
    swap = str(error).replace(record_id, "<id>")
    return swap == str(absent).replace(absent_id, "<id>")


def test_nothing_of_another_tenant_shows_in_reads(acme, globex):
    _, rows = acme
    assert globex.ok("search_contacts")["contacts"] == []
    assert globex.ok("search_contacts", query="beep")["contacts"] == []
    assert globex.ok("search_contacts", company_id=rows["company"]["id"])["contacts"] == []
    assert globex.ok("search_companies", include_archived=True)["companies"] == []
    assert globex.ok("list_deals")["deals"] == []
    summary = globex.ok("pipeline_summary")["stages"]
    assert all(s["count"] == 0 and s["totals"] == {} for s in summary)


@pytest.mark.parametrize(
    ("kind", "tool", "arguments"),
    [
        ("contact", "get_contact", {}),
        ("contact", "update_contact", {"version": 1, "name": "pwned"}),
        ("contact", "archive_contact", {"version": 1}),
        ("contact", "delete_contact", {}),
        ("company", "update_company", {"version": 1, "name": "pwned"}),
        ("company", "archive_company", {"version": 1}),
        ("company", "delete_company", {}),
        ("deal", "move_deal", {"version": 1, "stage": "lost"}),
    ],
)
def test_another_tenants_id_looks_exactly_like_no_id(acme, globex, kind, tool, arguments):
    owner, rows = acme
    record_id, absent_id = rows[kind]["id"], uuid.uuid4().hex
    theirs = globex.error(tool, id=record_id, **arguments)
    absent = globex.error(tool, id=absent_id, **arguments)
    assert theirs["code"] == "not_found"
    assert _same_shape(theirs, absent, record_id, absent_id)

    details = owner.ok("get_contact", id=rows["contact"]["id"])
    assert details["contact"] == rows["contact"] and details["company"] == rows["company"]
    assert details["open_deals"] == [rows["deal"]]
    assert [a["summary"] for a in details["latest_activities"]] == ["secret call"]


@pytest.mark.parametrize(
    ("kind", "tool", "arguments"),
    [
        ("company", "create_contact", {"name": "x"}),
        ("contact", "create_deal", {"title": "x", "amount": "1", "currency": "EUR"}),
        ("company", "create_deal", {"title": "x", "amount": "1", "currency": "EUR"}),
        ("contact", "log_activity", {"kind": "note", "summary": "x"}),
        ("deal", "log_activity", {"kind": "note", "summary": "x"}),
    ],
)
def test_cannot_link_to_another_tenants_record(acme, globex, count_rows, kind, tool, arguments):
    _, rows = acme
    before = {t: count_rows(t) for t in ("crm_contacts", "crm_deals", "crm_activities")}
    link = {f"{kind}_id": rows[kind]["id"]}
    absent_link = {f"{kind}_id": uuid.uuid4().hex}
    theirs = globex.error(tool, **arguments, **link)
    absent = globex.error(tool, **arguments, **absent_link)
    assert theirs["code"] == "not_found"
    assert _same_shape(theirs, absent, rows[kind]["id"], absent_link[f"{kind}_id"])
    assert {t: count_rows(t) for t in before} == before


def test_emails_are_unique_only_within_a_tenant(acme, globex):
    owner, rows = acme
    mine = globex.ok("create_contact", name="Wile E.", email="beep@acme.example")
    assert mine["id"] != rows["contact"]["id"]
    assert owner.ok("get_contact", id=rows["contact"]["id"])["contact"] == rows["contact"]
    assert [c["id"] for c in globex.ok("search_contacts", query="beep")["contacts"]] == [mine["id"]]


def test_cursors_carry_no_other_tenants_rows(acme, globex):
    owner, _ = acme
    for name in ["A", "B", "C"]:
        owner.ok("create_contact", name=name)
    cursor = owner.ok("search_contacts")["next_cursor"]
    assert cursor is not None
    assert globex.error("search_contacts", cursor=cursor)["code"] == "invalid_input"
