"""Contacts through a real host: create, details, search, update, archive, delete."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from conftest import WRITE, all_pages, deleted

UNKNOWN = uuid.uuid4().hex


def test_create_then_get_with_company_open_deals_and_latest_activities(agent):
    company = agent.ok("create_company", name="Initech", domain="Initech.example")
    contact = agent.ok(
        "create_contact",
        name="  Peter Gibbons ",
        email="Peter.Gibbons@Initech.example",
        phone="+1 555 0100",
        title="Engineer",
        company_id=company["id"],
    )
    assert contact["name"] == "Peter Gibbons"
    assert contact["email"] == "peter.gibbons@initech.example"
    assert contact["version"] == 1
    assert contact["created_at"].endswith("Z") and contact["archived_at"] is None
    assert len(contact["id"]) == 32

    open_deal = agent.ok(
        "create_deal", title="Licences", amount="100", currency="USD", contact_id=contact["id"]
    )
    agent.ok(
        "create_deal",
        title="Old",
        amount="5",
        currency="USD",
        stage="won",
        contact_id=contact["id"],
    )
    for hour in (9, 13, 11, 10):
        agent.ok(
            "log_activity",
            kind="call",
            summary=f"call at {hour}",
            contact_id=contact["id"],
            occurred_at=f"2026-03-02T{hour:02d}:00:00+00:00",
        )

    details = agent.ok("get_contact", id=contact["id"])
    assert details["contact"] == contact
    assert details["company"] == company
    assert [d["id"] for d in details["open_deals"]] == [open_deal["id"]]
    assert [a["summary"] for a in details["latest_activities"]] == [
        "call at 13",
        "call at 11",
        "call at 10",
    ]


def test_a_contact_needs_no_company(agent):
    contact = agent.ok("create_contact", name="Freelancer")
    details = agent.ok("get_contact", id=contact["id"])
    assert details["company"] is None
    assert details["open_deals"] == [] and details["latest_activities"] == []


def test_search_by_name_email_and_company_name(agent):
    initech = agent.ok("create_company", name="Initech")
    ada = agent.ok("create_contact", name="Ada Lovelace", email="ada@engines.example")
    bob = agent.ok("create_contact", name="Bob Slydell", company_id=initech["id"])
    carol = agent.ok("create_contact", name="Carol", email="carol@initech.example")
    agent.ok("create_contact", name="100% Dave")

    def names(**arguments):
        return [c["name"] for c in all_pages(agent, "search_contacts", "contacts", **arguments)]

    assert names(query="LOVELACE") == [ada["name"]]
    assert names(query="engines.example") == [ada["name"]]
    assert names(query="initech") == [bob["name"], carol["name"]]
    assert names(company_id=initech["id"]) == [bob["name"]]
    assert names(query="%") == ["100% Dave"]
    assert names(query="_") == []
    assert names(query="nobody") == []


def test_search_pages_through_everything_once_in_name_order(agent, count_rows):
    made = [agent.ok("create_contact", name=name)["id"] for name in ["Eve", "Al", "Cy", "Al", "Bo"]]
    first = agent.ok("search_contacts")
    assert len(first["contacts"]) == 2 and first["next_cursor"]

    seen = all_pages(agent, "search_contacts", "contacts")
    assert [c["name"] for c in seen] == ["Al", "Al", "Bo", "Cy", "Eve"]
    assert sorted(c["id"] for c in seen) == sorted(made)
    assert count_rows("crm_contacts") == 5


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps(["deals", "x", "y"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["contacts", "x"]).encode()).decode(),
    ],
)
def test_a_bad_cursor_is_refused(agent, cursor):
    agent.ok("create_contact", name="Someone")
    error = agent.error("search_contacts", cursor=cursor)
    assert error["code"] == "invalid_input"
    assert "cursor" in error["message"]


def test_update_changes_only_given_fields_and_bumps_the_version(agent):
    company = agent.ok("create_company", name="Initech")
    contact = agent.ok(
        "create_contact", name="Milton", email="milton@initech.example", phone="+1 555 0199"
    )
    updated = agent.ok(
        "update_contact", id=contact["id"], version=1, title="Collator", company_id=company["id"]
    )
    assert updated["version"] == 2
    assert updated["title"] == "Collator" and updated["company_id"] == company["id"]
    assert updated["name"] == "Milton" and updated["phone"] == "+1 555 0199"

    cleared = agent.ok("update_contact", id=contact["id"], version=2, clear=["phone", "company_id"])
    assert cleared["phone"] is None and cleared["company_id"] is None
    assert cleared["title"] == "Collator" and cleared["version"] == 3
    assert agent.ok("get_contact", id=contact["id"])["contact"] == cleared


@pytest.mark.parametrize(
    "arguments",
    [{}, {"clear": []}, {"phone": "1", "clear": ["phone"]}],
)
def test_an_update_that_says_nothing_clear_is_refused(agent, arguments):
    contact = agent.ok("create_contact", name="Milton", phone="2")
    error = agent.error("update_contact", id=contact["id"], version=1, **arguments)
    assert error["code"] == "invalid_input"
    assert agent.ok("get_contact", id=contact["id"])["contact"] == contact


def test_emails_are_unique_per_tenant_whatever_their_case(agent, count_rows):
    first = agent.ok("create_contact", name="Ann", email="ann@acme.example")
    error = agent.error("create_contact", name="Other Ann", email="ANN@acme.example")
    assert error["code"] == "duplicate_email"
    assert first["id"] in error["message"]
    assert error["details"] == {"existing_contact_id": first["id"]}
    assert count_rows("crm_contacts") == 1

    second = agent.ok("create_contact", name="Bea", email="bea@acme.example")
    error = agent.error("update_contact", id=second["id"], version=1, email="ann@acme.example")
    assert error["code"] == "duplicate_email"
    assert error["details"] == {"existing_contact_id": first["id"]}
    assert agent.ok("get_contact", id=second["id"])["contact"] == second

    same = agent.ok("update_contact", id=first["id"], version=1, email="Ann@Acme.example")
    assert same["email"] == "ann@acme.example" and same["version"] == 2


def test_archived_contacts_leave_search_but_can_be_read_and_restored(agent):
    contact = agent.ok("create_contact", name="Samir")
    archived = agent.ok("archive_contact", id=contact["id"], version=1)
    assert archived["archived_at"] is not None and archived["version"] == 2

    assert agent.ok("search_contacts", query="Samir")["contacts"] == []
    found = agent.ok("search_contacts", query="Samir", include_archived=True)["contacts"]
    assert [c["id"] for c in found] == [contact["id"]]
    assert agent.ok("get_contact", id=contact["id"])["contact"] == archived

    restored = agent.ok("archive_contact", id=contact["id"], version=2, archived=False)
    assert restored["archived_at"] is None and restored["version"] == 3
    assert [c["id"] for c in agent.ok("search_contacts", query="Samir")["contacts"]] == [
        contact["id"]
    ]


def test_delete_removes_activities_and_unlinks_deals_in_one_go(agent, connect, count_rows):
    contact = agent.ok("create_contact", name="Lumbergh", email="bill@initech.example")
    deal = agent.ok(
        "create_deal", title="TPS", amount="10", currency="USD", contact_id=contact["id"]
    )
    for n in range(3):
        agent.ok("log_activity", kind="note", summary=f"note {n}", contact_id=contact["id"])
    agent.ok("log_activity", kind="email", summary="about the deal", deal_id=deal["id"])

    refused = connect(WRITE).call("delete_contact", id=contact["id"])
    assert refused.status_code == 403 and refused.missing_scopes == ["crm:delete"]
    assert count_rows("crm_contacts") == 1

    assert agent.ok("delete_contact", id=contact["id"]) == deleted(
        contact["id"], activities_removed=3, records_detached=1
    )
    assert agent.error("get_contact", id=contact["id"])["code"] == "not_found"
    assert count_rows("crm_contacts") == 0
    assert count_rows("crm_activities") == 1
    (kept,) = agent.ok("list_deals")["deals"]
    assert kept["contact_id"] is None and kept["version"] == 2
    assert agent.error("delete_contact", id=contact["id"])["code"] == "not_found"
    agent.ok("create_contact", name="New Bill", email="bill@initech.example")


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("get_contact", {"id": UNKNOWN}),
        ("update_contact", {"id": UNKNOWN, "version": 1, "name": "x"}),
        ("archive_contact", {"id": UNKNOWN, "version": 1}),
        ("delete_contact", {"id": UNKNOWN}),
        ("create_contact", {"name": "x", "company_id": UNKNOWN}),
    ],
)
def test_unknown_ids_are_not_found_and_nothing_is_written(agent, count_rows, tool, arguments):
    error = agent.error(tool, **arguments)
    assert error["code"] == "not_found"
    assert UNKNOWN in error["message"]
    assert count_rows("crm_contacts") == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "x", "email": "not-an-email"}, "email"),
        ({"name": "x", "email": "a" * 250 + "@x.example"}, "email"),
        ({"name": "x", "phone": "1" * 51}, "phone"),
        ({"name": "x", "title": "t" * 201}, "title"),
        ({"name": "x", "company_id": "1"}, "company_id"),
    ],
)
def test_malformed_fields_are_refused_before_anything_is_written(
    agent, count_rows, arguments, field
):
    assert field in agent.invalid("create_contact", **arguments)
    assert count_rows("crm_contacts") == 0
