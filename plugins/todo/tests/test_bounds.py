"""Arguments no database can take are refused as ``invalid_input`` before the tool runs.

Before they were bounded, such arguments reached the database and came back as
``internal_error``: an id beyond 64 bits overflowed SQLite's driver, an id beyond 32 bits
PostgreSQL's ``integer``, and PostgreSQL refuses to store a NUL character at all. These run on
PostgreSQL too, with ``PLUGHOST_TEST_DATABASE_URL`` set.
"""

from __future__ import annotations

import base64

import pytest

from plughost.testing import ToolCall

WRITE = ["todo:read", "todo:write"]


@pytest.fixture
def host(plughost_factory):
    return plughost_factory(plugins=["todo"])


def assert_invalid_input(call: ToolCall, field: str) -> None:
    """Refused by validation, naming the field; the code is checked when the host gives one."""
    assert call.status_code == 200, call.body
    assert call.result.get("isError"), call.body
    assert call.error["code"] in (None, "invalid_input"), call.body
    assert field in call.text, call.body


@pytest.mark.parametrize("item_id", [0, -1, 2**31, 2**63])
@pytest.mark.parametrize("tool", ["todo_get", "todo_update", "todo_delete"])
def test_an_id_no_item_can_have_is_invalid_input(host, tool, item_id):
    args = {"title": "x"} if tool == "todo_update" else {}
    assert_invalid_input(host.client(WRITE).call(tool, id=item_id, **args), "id")


@pytest.mark.parametrize("field", ["title", "notes"])
def test_a_nul_character_is_invalid_input_and_nothing_is_stored(host, field):
    agent = host.client(WRITE)
    args = {"title": "write it", field: "bad\x00byte"}
    assert_invalid_input(agent.call("todo_create", **args), field)
    item = agent.call("todo_create", title="fine").data
    assert_invalid_input(agent.call("todo_update", id=item["id"], **{field: "a\x00"}), field)
    assert agent.call("todo_list").data["items"] == [item]


def test_over_long_notes_and_cursors_are_invalid_input(host):
    agent = host.client(WRITE)
    assert_invalid_input(agent.call("todo_create", title="x", notes="n" * 2001), "notes")
    assert_invalid_input(agent.call("todo_list", cursor="c" * 100_000), "cursor")


@pytest.mark.parametrize("value", [str(2**63), str(2**31), "0", "-5", "1e3"])
def test_a_forged_cursor_with_an_impossible_id_is_invalid_input(host, value):
    cursor = base64.urlsafe_b64encode(f"todo:{value}".encode()).decode()
    call = host.client(WRITE).call("todo_list", cursor=cursor)
    assert call.error is not None, call.body
    assert call.error["code"] == "invalid_input", call.body
    assert "cursor" in call.error["message"]


def test_a_cursor_is_signed_for_one_organisation(host):
    """0.3 cursors are signed by the host: an edited one, or another tenant's, is refused."""
    acme = host.client(WRITE, tenant="acme")
    for n in range(25):
        acme.call("todo_create", title=f"item {n}")
    cursor = acme.call("todo_list").data["next_cursor"]
    assert acme.call("todo_list", cursor=cursor).data["items"][0]["title"] == "item 20"
    edited = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    assert acme.call("todo_list", cursor=edited).error["code"] == "invalid_input"
    other = host.client(WRITE, tenant="globex").call("todo_list", cursor=cursor)
    assert other.error["code"] == "invalid_input"
