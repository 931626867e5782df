"""Optimistic concurrency: a change naming a stale version is refused, never applied."""

from __future__ import annotations

import pytest


def _contact(agent):
    return agent.ok("create_contact", name="Ann", email="ann@acme.example")


def _company(agent):
    return agent.ok("create_company", name="Acme")


def _deal(agent):
    return agent.ok("create_deal", title="Anvils", amount="10", currency="EUR")


CASES = {
    "contact": (
        _contact,
        ("update_contact", {"title": "CEO"}),
        ("update_contact", {"title": "Intern"}),
        lambda agent, record: agent.ok("get_contact", id=record["id"])["contact"],
    ),
    "company": (
        _company,
        ("update_company", {"name": "Acme Inc"}),
        ("archive_company", {}),
        lambda agent, record: agent.ok("search_companies", include_archived=True)["companies"][0],
    ),
    "deal": (
        _deal,
        ("move_deal", {"stage": "won"}),
        ("move_deal", {"stage": "lost"}),
        lambda agent, record: agent.ok("list_deals")["deals"][0],
    ),
}


@pytest.mark.parametrize("kind", CASES)
def test_the_second_writer_with_the_same_version_gets_a_conflict(agent, kind):
    create, (first_tool, first_change), (second_tool, second_change), read = CASES[kind]
    record = create(agent)
    winner = agent.ok(first_tool, id=record["id"], version=record["version"], **first_change)
    assert winner["version"] == record["version"] + 1

    error = agent.error(second_tool, id=record["id"], version=record["version"], **second_change)
    assert error["code"] == "conflict"
    assert error["details"] == {
        "id": record["id"],
        "current_version": winner["version"],
        "expected_version": record["version"],
    }
    assert f"version {winner['version']}" in error["message"]
    assert read(agent, record) == winner

    retried = agent.ok(second_tool, id=record["id"], version=winner["version"], **second_change)
    assert retried["version"] == winner["version"] + 1


def test_a_version_from_the_future_is_a_conflict_too(agent):
    contact = _contact(agent)
    error = agent.error("archive_contact", id=contact["id"], version=2)
    assert error["code"] == "conflict" and error["details"]["current_version"] == 1
    assert agent.ok("get_contact", id=contact["id"])["contact"] == contact
