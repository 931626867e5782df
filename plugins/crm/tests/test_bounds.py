"""Arguments no database can take are refused as ``invalid_input``, and nothing is written.

Before they were bounded such arguments reached the database and came back as
``internal_error``: a version beyond 64 bits overflowed SQLite's driver (beyond 32 bits,
PostgreSQL's ``integer``), a 900 KB search made SQLite give up with "LIKE or GLOB pattern too
complex", and PostgreSQL refuses to store a NUL character. These run on PostgreSQL too, with
``PLUGHOST_TEST_DATABASE_URL`` set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import Agent

HUGE = "a" * 900_000
VERSIONED = [
    ("update_contact", "contact", {"name": "x"}),
    ("archive_contact", "contact", {}),
    ("update_company", "company", {"name": "x"}),
    ("archive_company", "company", {}),
    ("move_deal", "deal", {"stage": "won"}),
]


def make(agent: Agent, kind: str) -> dict[str, Any]:
    if kind == "deal":
        return agent.ok("create_deal", title="Deal", amount="1", currency="EUR")
    return agent.ok(f"create_{kind}", name="Someone")


@pytest.mark.parametrize("version", [2**63, 2**31, 0, -1])
@pytest.mark.parametrize(("tool", "kind", "change"), VERSIONED)
def test_a_version_no_record_can_have_is_invalid_input(agent, tool, kind, change, version):
    record = make(agent, kind)
    assert "version" in agent.invalid(tool, id=record["id"], version=version, **change)
    assert agent.ok(tool, id=record["id"], version=1, **change)["version"] == 2


@pytest.mark.parametrize("tool", ["search_contacts", "search_companies"])
def test_a_900_kb_search_is_invalid_input(agent, tool):
    agent.ok("create_company", name="Acme")
    assert "query" in agent.invalid(tool, query=HUGE)
    assert "query" in agent.invalid(tool, query="acme\x00")


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("search_contacts", {"cursor": HUGE}),
        ("search_companies", {"cursor": HUGE}),
        ("list_deals", {"cursor": HUGE}),
        ("list_deals", {"stage": HUGE}),
        ("list_deals", {"owner": HUGE}),
        ("pipeline_summary", {"owner": "o" * 256}),
    ],
)
def test_over_long_reads_are_invalid_input_without_echoing_them(agent, tool, arguments):
    (field,) = arguments
    message = agent.invalid(tool, **arguments)
    assert field in message and len(message) < 1_000


NUL = "bad\x00byte"
WRITES: list[tuple[str, dict[str, Any], str]] = [
    ("create_contact", {"name": NUL}, "name"),
    ("create_contact", {"name": "x", "phone": NUL}, "phone"),
    ("create_contact", {"name": "x", "title": NUL}, "title"),
    ("create_company", {"name": NUL}, "name"),
    ("create_deal", {"title": NUL, "amount": "1", "currency": "EUR"}, "title"),
    ("create_deal", {"title": "x", "amount": "1", "currency": "EUR", "owner": NUL}, "owner"),
    ("create_deal", {"title": "x", "amount": "1", "currency": "EUR", "stage": NUL}, "stage"),
    ("log_activity", {"kind": "note", "summary": NUL}, "summary"),
    ("log_activity", {"kind": "note", "summary": "x", "body": NUL}, "body"),
]


@pytest.mark.parametrize(("tool", "arguments", "field"), WRITES)
def test_a_nul_character_in_any_text_is_invalid_input(
    agent, count_rows: Callable[[str], int], tool, arguments, field
):
    contact = agent.ok("create_contact", name="Target")
    if tool == "log_activity":
        arguments = {**arguments, "contact_id": contact["id"]}
    assert field in agent.invalid(tool, **arguments)
    assert count_rows("crm_contacts") == 1
    assert count_rows("crm_companies") + count_rows("crm_deals") == 0
    assert count_rows("crm_activities") == 0


def test_a_nul_character_in_an_update_is_invalid_input(agent):
    contact = agent.ok("create_contact", name="Ann")
    assert "name" in agent.invalid("update_contact", id=contact["id"], version=1, name=NUL)
    assert agent.ok("get_contact", id=contact["id"])["contact"] == contact
