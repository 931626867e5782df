"""Activities through a real host: logged on exactly one contact or deal of the tenant."""

from __future__ import annotations

import uuid

import pytest

UNKNOWN = uuid.uuid4().hex


@pytest.mark.parametrize("kind", ["note", "call", "email", "meeting"])
def test_log_on_a_contact(agent, kind):
    contact = agent.ok("create_contact", name="Ann")
    activity = agent.ok(
        "log_activity",
        kind=kind,
        summary=" Talked pricing ",
        body="She wants a discount.",
        contact_id=contact["id"],
        occurred_at="2026-03-02T10:15:00+02:00",
    )
    assert activity["kind"] == kind and activity["summary"] == "Talked pricing"
    assert activity["body"] == "She wants a discount."
    assert activity["contact_id"] == contact["id"] and activity["deal_id"] is None
    assert activity["author"] == "test-user"
    assert activity["occurred_at"] == "2026-03-02T08:15:00Z"
    assert agent.ok("get_contact", id=contact["id"])["latest_activities"] == [activity]


def test_log_on_a_deal_defaults_to_now(agent, count_rows):
    deal = agent.ok("create_deal", title="d", amount="1", currency="EUR")
    activity = agent.ok("log_activity", kind="meeting", summary="Kick-off", deal_id=deal["id"])
    assert activity["deal_id"] == deal["id"] and activity["contact_id"] is None
    assert activity["body"] is None
    assert activity["occurred_at"] == activity["created_at"]
    assert count_rows("crm_activities") == 1


@pytest.mark.parametrize(
    ("targets", "code"),
    [
        ({}, "invalid_input"),
        ({"contact_id": "c", "deal_id": "d"}, "invalid_input"),
        ({"contact_id": UNKNOWN}, "not_found"),
        ({"deal_id": UNKNOWN}, "not_found"),
    ],
)
def test_needs_exactly_one_existing_target(agent, count_rows, targets, code):
    contact = agent.ok("create_contact", name="Ann")
    deal = agent.ok("create_deal", title="d", amount="1", currency="EUR")
    real = {"c": contact["id"], "d": deal["id"]}
    arguments = {key: real.get(value, value) for key, value in targets.items()}
    error = agent.error("log_activity", kind="note", summary="s", **arguments)
    assert error["code"] == code
    assert count_rows("crm_activities") == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"kind": "fax"}, "kind"),
        ({"summary": ""}, "summary"),
        ({"summary": "s" * 201}, "summary"),
        ({"body": "b" * 10_001}, "body"),
        ({"occurred_at": "2026-03-02T10:15:00"}, "occurred_at"),
        ({"occurred_at": "last tuesday"}, "occurred_at"),
    ],
)
def test_malformed_activity_is_refused(agent, count_rows, arguments, field):
    contact = agent.ok("create_contact", name="Ann")
    activity = {"kind": "note", "summary": "s", "contact_id": contact["id"], **arguments}
    assert field in agent.invalid("log_activity", **activity)
    assert count_rows("crm_activities") == 0
