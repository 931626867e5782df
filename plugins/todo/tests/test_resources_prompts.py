"""The todo plugin's resources, prompt and completions through a real host, over HTTP."""

from __future__ import annotations

import json

import pytest

READ = ["todo:read"]
WRITE = ["todo:read", "todo:write"]


@pytest.fixture
def host(plughost_factory):
    return plughost_factory(plugins=["todo"])


def add(host, *titles: str, tenant: str = "acme", notes: str = "") -> list[dict]:
    agent = host.client(WRITE, tenant=tenant)
    return [agent.call("todo_create", title=title, notes=notes).data for title in titles]


def complete(client, ref: dict, argument: str, value: str) -> list[str]:
    reply = client.request(
        "completion/complete", {"ref": ref, "argument": {"name": argument, "value": value}}
    )
    assert reply.status_code == 200, reply.body
    return reply.result["completion"]["values"]


def read(client, uri: str):
    return client.request("resources/read", {"uri": uri})


def test_the_resources_and_the_prompt_are_listed_for_a_read_token(host):
    reader = host.client(READ)
    resources = reader.request("resources/list").result["resources"]
    assert [(r["uri"], r["mimeType"]) for r in resources] == [("todo://open", "text/markdown")]
    templates = reader.request("resources/templates/list").result["resourceTemplates"]
    assert [(t["uriTemplate"], t["mimeType"]) for t in templates] == [
        ("todo://items/{id}", "application/json")
    ]
    (prompt,) = reader.request("prompts/list").result["prompts"]
    assert (prompt["name"], prompt["title"]) == ("todo_plan_my_day", "Plan my day")
    arguments = {a["name"]: a.get("required", False) for a in prompt["arguments"]}
    assert arguments == {"hours": False, "focus": False}


def test_the_open_list_is_a_checklist_of_the_callers_open_items(host):
    first, done, last = add(host, "Write the release notes", "Ship 0.3", "Tell the team")
    host.client(WRITE, tenant="acme").call("todo_update", id=done["id"], completed=True)
    add(host, "globex secret", tenant="globex")
    reply = read(host.client(READ, tenant="acme"), "todo://open")
    assert reply.status_code == 200, reply.body
    (content,) = reply.result["contents"]
    assert content["mimeType"] == "text/markdown"
    assert content["text"] == (
        "# Open todo items (2)\n\n"
        f"- [ ] Write the release notes (#{first['id']})\n"
        f"- [ ] Tell the team (#{last['id']})\n"
    )
    empty = read(host.client(READ, tenant="initech"), "todo://open").result["contents"][0]
    assert empty["text"] == "# Open todo items (0)\n\nNothing to do.\n"


def test_the_open_list_is_bounded_and_says_how_many_more(host):
    add(host, *(f"task {n}" for n in range(53)))
    text = read(host.client(READ, tenant="acme"), "todo://open").result["contents"][0]["text"]
    assert text.startswith("# Open todo items (53)\n")
    assert text.count("- [ ] ") == 50 and "task 49 " in text and "task 50" not in text
    assert text.endswith("(3 more open items not shown: page through them with todo_list.)\n")


def test_an_item_is_read_as_the_json_todo_get_returns(host):
    (made,) = add(host, "Write the release notes", notes="for 0.3")
    reader = host.client(READ, tenant="acme")
    reply = read(reader, f"todo://items/{made['id']}")
    (content,) = reply.result["contents"]
    assert content["uri"] == f"todo://items/{made['id']}"
    assert content["mimeType"] == "application/json"
    assert json.loads(content["text"]) == reader.call("todo_get", id=made["id"]).data == made


@pytest.mark.parametrize(
    ("item_id", "error"),
    [
        ("424242", "not_found: todo item 424242 does not exist"),
        ("abc", "invalid_input: 'abc' is not a todo item id"),
        ("0", "invalid_input: '0' is not a todo item id"),
        (str(2**31), f"invalid_input: '{2**31}' is not a todo item id"),
    ],
)
def test_a_missing_or_impossible_item_is_a_clear_error(host, item_id, error):
    reply = read(host.client(READ), f"todo://items/{item_id}")
    assert reply.status_code == 200, reply.body
    assert error in reply.jsonrpc_error["message"], reply.body


def test_another_tenants_item_looks_missing(host):
    (made,) = add(host, "acme secret")
    reply = read(host.client(READ, tenant="globex"), f"todo://items/{made['id']}")
    assert "not_found" in reply.jsonrpc_error["message"]
    assert "acme secret" not in json.dumps(reply.body)


def test_item_ids_complete_from_the_callers_items_only(host):
    add(host, *(f"task {n}" for n in range(12)))
    add(host, *(f"globex {n}" for n in range(15)), tenant="globex")
    ref = {"type": "ref/resource", "uri": "todo://items/{id}"}
    acme = host.client(READ, tenant="acme")
    assert complete(acme, ref, "id", "1") == ["1", "10", "11", "12"]
    assert complete(acme, ref, "id", "") == [str(n) for n in range(1, 13)]
    assert complete(acme, ref, "id", "x") == []
    assert complete(host.client(READ, tenant="globex"), ref, "id", "1") == [
        "1",
        "10",
        *map(str, range(11, 16)),
    ]


def test_plan_my_day_lists_the_open_items_with_the_hours_given(host):
    first, done, last = add(host, "Write the release notes", "Ship 0.3", "Tell the team")
    host.client(WRITE, tenant="acme").call("todo_update", id=done["id"], completed=True)
    reader = host.client(READ, tenant="acme")
    got = reader.request("prompts/get", {"name": "todo_plan_my_day", "arguments": {"hours": "4"}})
    assert got.status_code == 200, got.body
    (message,) = got.result["messages"]
    assert message["role"] == "user"
    text = message["content"]["text"]
    assert text.startswith("I have 4 hours today. Plan my day from my open todo items:\n")
    assert f"- #{first['id']} Write the release notes\n- #{last['id']} Tell the team\n" in text
    assert "Ship 0.3" not in text
    default = reader.request("prompts/get", {"name": "todo_plan_my_day"})
    assert default.result["messages"][0]["content"]["text"].startswith("I have 8 hours today.")


def test_plan_my_day_starts_with_the_focus_its_completion_offers(host):
    add(host, "Write the release notes", "Review the PR", "write the blog post", notes="n" * 300)
    reader = host.client(READ, tenant="acme")
    ref = {"type": "ref/prompt", "name": "todo_plan_my_day"}
    offered = complete(reader, ref, "focus", "wri")
    assert offered == ["Write the release notes", "write the blog post"]
    assert complete(reader, ref, "focus", "%") == []
    assert complete(reader, ref, "hours", "") == []
    got = reader.request(
        "prompts/get", {"name": "todo_plan_my_day", "arguments": {"focus": offered[1]}}
    )
    text = got.result["messages"][0]["content"]["text"]
    assert text.splitlines()[2] == "- #3 write the blog post: " + "n" * 200 + "..."
    assert "Start with #3, 'write the blog post'." in text


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"focus": "Not a todo"}, "not_found: no open todo item is titled 'Not a todo'"),
        ({"hours": "25"}, "Input should be less than or equal to 24"),
        ({"hours": "many"}, "invalid_input: argument 'hours' of todo_plan_my_day"),
        ({"focus": "x" * 201}, "invalid_input: argument 'focus' of todo_plan_my_day"),
    ],
)
def test_bad_prompt_arguments_are_clear_errors(host, arguments, error):
    add(host, "Write the release notes")
    got = host.client(READ, tenant="acme").request(
        "prompts/get", {"name": "todo_plan_my_day", "arguments": arguments}
    )
    assert got.status_code == 200, got.body
    assert error in got.jsonrpc_error["message"], got.body


def test_without_todo_read_nothing_is_listed_and_everything_is_a_403(host):
    (made,) = add(host, "acme secret")
    stranger = host.client([], tenant="acme")
    assert stranger.request("resources/list").result["resources"] == []
    assert stranger.request("resources/templates/list").result["resourceTemplates"] == []
    assert stranger.request("prompts/list").result["prompts"] == []
    refusals = [
        read(stranger, "todo://open"),
        read(stranger, f"todo://items/{made['id']}"),
        stranger.request("prompts/get", {"name": "todo_plan_my_day"}),
        stranger.request(
            "completion/complete",
            {
                "ref": {"type": "ref/prompt", "name": "todo_plan_my_day"},
                "argument": {"name": "focus", "value": ""},
            },
        ),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.body
        assert refused.missing_scopes == ["todo:read"]
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
        assert "acme secret" not in json.dumps(refused.body)
