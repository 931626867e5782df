"""Companies through a real host: create, search, update, archive, delete."""

from __future__ import annotations

import uuid

import pytest
from conftest import WRITE, all_pages, deleted

UNKNOWN = uuid.uuid4().hex


def test_create_update_and_clear(agent):
    company = agent.ok("create_company", name=" Globex ", domain="GLOBEX.example")
    assert company["name"] == "Globex" and company["domain"] == "globex.example"
    assert company["version"] == 1 and company["archived_at"] is None

    renamed = agent.ok("update_company", id=company["id"], version=1, name="Globex Corp")
    assert renamed["name"] == "Globex Corp" and renamed["domain"] == "globex.example"
    assert renamed["version"] == 2

    cleared = agent.ok("update_company", id=company["id"], version=2, clear=["domain"])
    assert cleared["domain"] is None and cleared["name"] == "Globex Corp"
    assert agent.error("update_company", id=company["id"], version=3)["code"] == "invalid_input"


def test_search_by_name_or_domain_pages_and_skips_archived(agent):
    ids = {
        name: agent.ok("create_company", name=name, domain=f"{name.lower()}.example")["id"]
        for name in ["Umbrella", "Acme", "Hooli", "Initech", "Vandelay"]
    }
    names = [c["name"] for c in all_pages(agent, "search_companies", "companies")]
    assert names == ["Acme", "Hooli", "Initech", "Umbrella", "Vandelay"]
    assert [c["id"] for c in agent.ok("search_companies", query="hoo")["companies"]] == [
        ids["Hooli"]
    ]
    by_domain = agent.ok("search_companies", query="vandelay.example")["companies"]
    assert [c["name"] for c in by_domain] == ["Vandelay"]

    archived = agent.ok("archive_company", id=ids["Acme"], version=1)
    assert archived["archived_at"] is not None and archived["version"] == 2
    names = [c["name"] for c in all_pages(agent, "search_companies", "companies")]
    assert "Acme" not in names and len(names) == 4
    with_archived = all_pages(agent, "search_companies", "companies", include_archived=True)
    assert len(with_archived) == 5

    restored = agent.ok("archive_company", id=ids["Acme"], version=2, archived=False)
    assert restored["archived_at"] is None and restored["version"] == 3


def test_delete_unlinks_contacts_and_deals_and_needs_the_delete_scope(agent, connect, count_rows):
    company = agent.ok("create_company", name="Initrode")
    contact = agent.ok("create_contact", name="Nina", company_id=company["id"])
    agent.ok(
        "create_deal", title="Chairs", amount="99.99", currency="EUR", company_id=company["id"]
    )

    refused = connect(WRITE).call("delete_company", id=company["id"])
    assert refused.status_code == 403 and refused.missing_scopes == ["crm:delete"]

    assert agent.ok("delete_company", id=company["id"]) == deleted(
        company["id"], activities_removed=0, records_detached=2
    )
    assert count_rows("crm_companies") == 0
    unlinked = agent.ok("get_contact", id=contact["id"])["contact"]
    assert unlinked["company_id"] is None and unlinked["version"] == 2
    (deal,) = agent.ok("list_deals")["deals"]
    assert deal["company_id"] is None and deal["version"] == 2
    assert agent.error("delete_company", id=company["id"])["code"] == "not_found"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("update_company", {"id": UNKNOWN, "version": 1, "name": "x"}),
        ("archive_company", {"id": UNKNOWN, "version": 1}),
        ("delete_company", {"id": UNKNOWN}),
    ],
)
def test_unknown_company_is_not_found(agent, tool, arguments):
    error = agent.error(tool, **arguments)
    assert error["code"] == "not_found"
    assert error["message"] == f"company {UNKNOWN} does not exist"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"name": "x", "domain": "not a domain"}, "domain"),
        ({"name": "x", "domain": "a" * 250 + ".com"}, "domain"),
    ],
)
def test_malformed_company_fields_are_refused(agent, count_rows, arguments, field):
    assert field in agent.invalid("create_company", **arguments)
    assert count_rows("crm_companies") == 0
