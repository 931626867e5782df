"""Deals through a real host: create, list, move, pipeline summary, money and stages."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from conftest import WRITE, Agent, all_pages

from plughost.testing import SettingsError

UNKNOWN = uuid.uuid4().hex
STAGES = ["lead", "qualified", "proposal", "negotiation", "won", "lost"]


def test_create_defaults_to_first_stage_and_the_caller_as_owner(agent):
    company = agent.ok("create_company", name="Acme")
    contact = agent.ok("create_contact", name="Wile", company_id=company["id"])
    deal = agent.ok(
        "create_deal",
        title=" Rockets ",
        amount="1234.5",
        currency="USD",
        contact_id=contact["id"],
        company_id=company["id"],
    )
    assert deal["title"] == "Rockets"
    assert deal["amount"] == "1234.50" and deal["currency"] == "USD"
    assert deal["stage"] == "lead" and deal["owner"] == "test-user"
    assert deal["contact_id"] == contact["id"] and deal["company_id"] == company["id"]
    assert deal["version"] == 1 and deal["closed_at"] is None

    won = agent.ok("create_deal", title="Done", amount=7, currency="EUR", stage="won", owner="rita")
    assert won["amount"] == "7.00" and won["owner"] == "rita"
    assert won["closed_at"] == won["created_at"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("9999999999999.99", "9999999999999.99"), ("0.1", "0.10"), (0, "0.00"), ("1e3", "1000.00")],
)
def test_amounts_are_exact_decimals(agent, sent, stored):
    deal = agent.ok("create_deal", title="Exact", amount=sent, currency="EUR")
    assert deal["amount"] == stored
    assert agent.ok("list_deals")["deals"][0]["amount"] == stored


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"amount": 12.5}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "10000000000000"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"title": "t" * 201}, "title"),
        ({"owner": "o" * 256}, "owner"),
        ({"contact_id": "nope"}, "contact_id"),
    ],
)
def test_malformed_deal_fields_are_refused(agent, count_rows, arguments, field):
    deal = {"title": "Deal", "amount": "10", "currency": "EUR", **arguments}
    assert field in agent.invalid("create_deal", **deal)
    assert count_rows("crm_deals") == 0


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"stage": "closed"}, "invalid_input"),
        ({"contact_id": UNKNOWN}, "not_found"),
        ({"company_id": UNKNOWN}, "not_found"),
    ],
)
def test_unknown_stage_or_party_writes_nothing(agent, count_rows, arguments, code):
    error = agent.error("create_deal", title="Deal", amount="10", currency="EUR", **arguments)
    assert error["code"] == code
    assert count_rows("crm_deals") == 0


def test_unknown_stage_error_names_the_valid_stages(agent):
    error = agent.error("list_deals", stage="Lead")
    assert error["code"] == "invalid_input"
    assert "'Lead'" in error["message"] and ", ".join(STAGES) in error["message"]
    assert error["details"] == {"stages": STAGES}


def _make(agent: Agent, title: str, stage: str = "lead", owner: str = "rita") -> dict:
    return agent.ok(
        "create_deal", title=title, amount="100", currency="EUR", stage=stage, owner=owner
    )


def test_list_by_stage_and_owner_pages_oldest_first(agent):
    made = [
        _make(agent, "a"),
        _make(agent, "b", stage="proposal"),
        _make(agent, "c", owner="sam"),
        _make(agent, "d"),
        _make(agent, "e"),
    ]
    everything = all_pages(agent, "list_deals", "deals")
    assert [d["id"] for d in everything] == [d["id"] for d in made]

    leads = all_pages(agent, "list_deals", "deals", stage="lead")
    assert [d["title"] for d in leads] == ["a", "c", "d", "e"]
    ritas_leads = all_pages(agent, "list_deals", "deals", stage="lead", owner="rita")
    assert [d["title"] for d in ritas_leads] == ["a", "d", "e"]
    assert [d["title"] for d in agent.ok("list_deals", owner="sam")["deals"]] == ["c"]
    assert agent.ok("list_deals", stage="won")["deals"] == []


def _cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("deals", "yesterday", UNKNOWN),
        _cursor("deals", "2026-01-01T00:00:00", UNKNOWN),
        _cursor("contacts", "Ann", UNKNOWN),
    ],
)
def test_a_cursor_not_made_by_list_deals_is_refused(agent, cursor):
    _make(agent, "a")
    error = agent.error("list_deals", cursor=cursor)
    assert error["code"] == "invalid_input" and "cursor" in error["message"]


def test_a_cursor_of_another_tool_is_refused(agent):
    """Cursors are signed by the host for one tool: search_contacts' does not page list_deals."""
    for name in ["Ann", "Bo", "Cy"]:
        agent.ok("create_contact", name=name)
    cursor = agent.ok("search_contacts")["next_cursor"]
    assert agent.ok("search_contacts", cursor=cursor)["contacts"]
    error = agent.error("list_deals", cursor=cursor)
    assert error["code"] == "invalid_input" and "first page" in error["message"]


def test_move_records_closing_and_reopening(agent):
    deal = _make(agent, "Anvils")
    moved = agent.ok("move_deal", id=deal["id"], version=1, stage="negotiation")
    assert moved["stage"] == "negotiation" and moved["version"] == 2 and moved["closed_at"] is None

    won = agent.ok("move_deal", id=deal["id"], version=2, stage="won")
    assert won["stage"] == "won" and won["closed_at"] is not None and won["version"] == 3
    assert agent.ok("list_deals", stage="won")["deals"] == [won]

    reopened = agent.ok("move_deal", id=deal["id"], version=3, stage="proposal")
    assert reopened["closed_at"] is None and reopened["version"] == 4


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"stage": "done"}, "invalid_input"),
        ({"stage": "won", "version": 7}, "conflict"),
        ({"stage": "won", "id": UNKNOWN}, "not_found"),
    ],
)
def test_a_refused_move_changes_nothing(agent, arguments, code):
    deal = _make(agent, "Anvils")
    error = agent.error("move_deal", **{"id": deal["id"], "version": 1, **arguments})
    assert error["code"] == code
    assert agent.ok("list_deals")["deals"] == [deal]


def test_pipeline_summary_counts_and_totals_per_stage_and_currency(agent):
    for amount, currency, stage, owner in [
        ("0.10", "EUR", "lead", "rita"),
        ("0.20", "EUR", "lead", "sam"),
        ("5", "USD", "lead", "rita"),
        ("1000000.01", "EUR", "won", "rita"),
    ]:
        agent.ok(
            "create_deal",
            title="d",
            amount=amount,
            currency=currency,
            stage=stage,
            owner=owner,
        )
    summary = agent.ok("pipeline_summary")["stages"]
    assert [s["stage"] for s in summary] == STAGES
    by_stage = {s["stage"]: s for s in summary}
    assert by_stage["lead"] == {
        "stage": "lead",
        "open": True,
        "count": 3,
        "totals": {"EUR": "0.30", "USD": "5.00"},
    }
    assert by_stage["won"] == {
        "stage": "won",
        "open": False,
        "count": 1,
        "totals": {"EUR": "1000000.01"},
    }
    assert by_stage["proposal"] == {"stage": "proposal", "open": True, "count": 0, "totals": {}}

    ritas = {s["stage"]: s for s in agent.ok("pipeline_summary", owner="rita")["stages"]}
    assert ritas["lead"]["count"] == 2 and ritas["lead"]["totals"] == {"EUR": "0.10", "USD": "5.00"}


def test_reading_needs_only_the_read_scope(connect):
    writer, reader = connect(WRITE), connect(["crm:read"])
    writer.ok("create_deal", title="d", amount="1", currency="EUR")
    assert len(reader.ok("list_deals")["deals"]) == 1
    refused = reader.call("move_deal", id=UNKNOWN, version=1, stage="won")
    assert refused.status_code == 403 and refused.missing_scopes == ["crm:write"]


def test_the_pipeline_comes_from_settings(plughost_factory):
    settings = {"plugins": {"crm": {"stages": ["new", "demo", "signed"], "closed_stages": []}}}
    host = plughost_factory(plugins=["crm"], settings=settings)
    agent = Agent(host.client())
    deal = agent.ok("create_deal", title="d", amount="1", currency="EUR")
    assert deal["stage"] == "new"
    signed = agent.ok("move_deal", id=deal["id"], version=1, stage="signed")
    assert signed["closed_at"] is None
    assert agent.error("move_deal", id=deal["id"], version=2, stage="won")["details"] == {
        "stages": ["new", "demo", "signed"]
    }
    summary = agent.ok("pipeline_summary")["stages"]
    assert [(s["stage"], s["open"], s["count"]) for s in summary] == [
        ("new", True, 0),
        ("demo", True, 0),
        ("signed", True, 1),
    ]


def test_the_pipeline_can_come_from_environment_variables(plughost_factory, monkeypatch):
    monkeypatch.setenv("PLUGHOST_PLUGINS__CRM__STAGES", "new, demo ,won")
    monkeypatch.setenv("PLUGHOST_PLUGINS__CRM__CLOSED_STAGES", '["won"]')
    agent = Agent(plughost_factory(plugins=["crm"]).client())
    deal = agent.ok("create_deal", title="d", amount="1", currency="EUR")
    assert deal["stage"] == "new"
    assert agent.ok("move_deal", id=deal["id"], version=1, stage="won")["closed_at"] is not None


def test_deals_in_a_stage_dropped_from_settings_still_show(plughost_factory, tmp_path):
    host = plughost_factory(plugins=["crm"], data_dir=tmp_path)
    Agent(host.client()).ok("create_deal", title="d", amount="3", currency="EUR", stage="proposal")
    host.stop()
    settings = {"plugins": {"crm": {"stages": ["lead", "won"], "closed_stages": ["won"]}}}
    host = plughost_factory(plugins=["crm"], settings=settings, data_dir=tmp_path)
    summary = Agent(host.client()).ok("pipeline_summary")["stages"]
    assert [(s["stage"], s["open"], s["count"]) for s in summary] == [
        ("lead", True, 0),
        ("won", False, 0),
        ("proposal", True, 1),
    ]


@pytest.mark.parametrize(
    "crm",
    [
        {"stages": []},
        {"stages": ["lead", "lead"]},
        {"stages": ["Lead"]},
        {"closed_stages": ["done"]},
        {"stages": "[not json"},
    ],
)
def test_a_bad_pipeline_stops_start_up(plughost_factory, crm):
    with pytest.raises(SettingsError, match="PLUGHOST_PLUGINS__CRM"):
        plughost_factory(plugins=["crm"], settings={"plugins": {"crm": crm}})


@pytest.mark.parametrize(
    ("sent", "currency", "shown"),
    [
        ("1000", "JPY", "1000"),
        ("1000.00", "JPY", "1000"),
        ("1.125", "KWD", "1.125"),
        ("0.5", "BHD", "0.500"),
        ("7", "EUR", "7.00"),
    ],
)
def test_amounts_take_their_currencys_decimal_places(agent, sent, currency, shown):
    deal = agent.ok("create_deal", title="Money", amount=sent, currency=currency)
    assert deal["amount"] == shown
    assert agent.ok("list_deals")["deals"][0]["amount"] == shown
    totals = {s["stage"]: s["totals"] for s in agent.ok("pipeline_summary")["stages"]}
    assert totals["lead"] == {currency: shown}


@pytest.mark.parametrize(
    ("sent", "currency", "places"),
    [("1000.5", "JPY", "no decimal places"), ("1.1255", "KWD", None), ("1.005", "EUR", "2")],
)
def test_more_decimal_places_than_the_currency_has_are_refused(
    agent, count_rows, sent, currency, places
):
    message = agent.invalid("create_deal", title="Money", amount=sent, currency=currency)
    assert "amount" in message
    if places is not None:
        assert places in message
    assert count_rows("crm_deals") == 0


@pytest.mark.parametrize("currency", ["ABC", "XYZ", "DEM", "XAU"])
def test_three_capital_letters_are_not_enough_for_a_currency(agent, count_rows, currency):
    message = agent.invalid("create_deal", title="Deal", amount="1", currency=currency)
    assert "currency" in message and "ISO 4217" in message
    assert count_rows("crm_deals") == 0
