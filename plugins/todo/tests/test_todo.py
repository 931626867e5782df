"""The todo plugin through a real host: real tokens, real HTTP, a real SQLite file."""

from __future__ import annotations

import pytest

READ = ["todo:read"]
WRITE = ["todo:read", "todo:write"]


@pytest.fixture
def host(plughost_factory):
    return plughost_factory(plugins=["todo"], settings={"plugins": {"todo": {"page_size": 2}}})


def test_create_get_update_delete(host):
    agent = host.client(WRITE)
    created = agent.call("todo_create", title="  Write the release notes ", notes="for 0.1")
    assert created.ok, created.body
    item = created.data
    assert item["title"] == "Write the release notes"
    assert item["completed"] is False
    assert item["created_at"].endswith("Z")

    assert agent.call("todo_get", id=item["id"]).data == item

    updated = agent.call("todo_update", id=item["id"], completed=True)
    assert updated.ok and updated.data["completed"] is True
    assert updated.data["title"] == item["title"]

    assert agent.call("todo_delete", id=item["id"]).data == {"id": item["id"], "deleted": True}
    gone = agent.call("todo_get", id=item["id"])
    assert gone.error["code"] == "not_found"


def test_list_filters_and_paginates(host):
    agent = host.client(WRITE)
    ids = [agent.call("todo_create", title=f"task {n}").data["id"] for n in range(5)]
    agent.call("todo_update", id=ids[1], completed=True)

    seen, cursor = [], None
    while True:
        args = {"cursor": cursor} if cursor else {}
        page = agent.call("todo_list", **args).data
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    done = agent.call("todo_list", completed=True).data["items"]
    assert [i["id"] for i in done] == [ids[1]]
    open_items = agent.call("todo_list", completed=False).data["items"]
    assert ids[1] not in [i["id"] for i in open_items]


@pytest.mark.parametrize(
    ("tool", "args", "code"),
    [
        ("todo_create", {"title": "   "}, "invalid_input"),
        ("todo_list", {"cursor": "not-a-cursor"}, "invalid_input"),
        ("todo_get", {"id": 424242}, "not_found"),
        ("todo_update", {"id": 424242, "title": "x"}, "not_found"),
        ("todo_update", {"id": 1}, "invalid_input"),
        ("todo_delete", {"id": 424242}, "not_found"),
    ],
)
def test_bad_input_is_a_clear_tool_error(host, tool, args, code):
    call = host.client(WRITE).call(tool, **args)
    assert call.status_code == 200
    assert call.error is not None, call.body
    assert call.error["code"] == code
    assert call.error["message"]


@pytest.mark.parametrize("title", ["", "x" * 201])
def test_title_length_is_validated_before_the_tool_runs(host, title):
    agent = host.client(WRITE)
    call = agent.call("todo_create", title=title)
    assert call.result.get("isError"), call.body
    assert "title" in call.text
    assert agent.call("todo_list").data["items"] == []


def test_read_token_cannot_write(host):
    reader = host.client(READ)
    refused = reader.call("todo_create", title="sneaky")
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    challenged = refused.headers["www-authenticate"].split('scope="')[1].split('"')[0]
    assert "todo:write" in challenged.split()
    assert refused.missing_scopes == ["todo:write"]
    assert host.client(WRITE).call("todo_list").data["items"] == []
    assert sorted(reader.tool_names()) == ["todo_get", "todo_list"]


def test_tenants_never_see_each_other(host):
    alice = host.client(WRITE, tenant="acme")
    bob = host.client(WRITE, tenant="globex")
    mine = alice.call("todo_create", title="acme secret").data

    assert bob.call("todo_list").data["items"] == []
    assert bob.call("todo_get", id=mine["id"]).error["code"] == "not_found"
    assert bob.call("todo_update", id=mine["id"], title="pwned").error["code"] == "not_found"
    assert bob.call("todo_delete", id=mine["id"]).error["code"] == "not_found"
    assert alice.call("todo_get", id=mine["id"]).data["title"] == "acme secret"


def test_items_survive_a_restart(host):
    item = host.client(WRITE).call("todo_create", title="remember me").data
    host.restart()
    assert host.client(READ).call("todo_get", id=item["id"]).data == item


def test_bad_page_size_stops_startup(plughost_factory):
    from plughost.testing import SettingsError

    with pytest.raises(SettingsError, match="PLUGHOST_PLUGINS__TODO__PAGE_SIZE"):
        plughost_factory(plugins=["todo"], settings={"plugins": {"todo": {"page_size": 0}}})
