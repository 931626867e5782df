"""What agents read about a tool's results, checked the way strict clients check them: every error
result validates against the tool's own output schema, every behaviour hint is stated with the
defaults plugins get, and bad arguments come back as structured ``invalid_input`` errors."""

from __future__ import annotations

import json

import pytest
from conftest import TEST_PLUGINS
from jsonschema import Draft202012Validator

#: (tool, arguments) that fail, each a different way: the tool's own errors, argument
#: validation, a crash, a timeout, and a cursor the tool never issued.
FAILING_CALLS = [
    ("oncall_open_incident", {"title": " ", "severity": "low"}),
    ("oncall_open_incident", {"title": "db down", "severity": "urgent"}),
    ("oncall_open_incident", {"title": "db down"}),
    ("oncall_open_incident", {"title": "db down", "severity": "low", "fail": "crash"}),
    ("oncall_open_incident", {"title": "db down", "severity": "low", "fail": "slow"}),
    ("oncall_responders", {"team": "nope"}),
    ("oncall_counts", {"team": "nope"}),
    ("oncall_status", {"team": "nope"}),
    ("todo_get", {"id": 999}),
    ("todo_get", {"id": "seven"}),
    ("todo_create", {"title": ""}),
    ("todo_list", {"cursor": "bm90LWEtY3Vyc29y"}),
]
SUCCEEDING_CALLS = [
    ("oncall_open_incident", {"title": "db down", "severity": "high"}),
    ("oncall_responders", {"team": "core"}),
    ("oncall_counts", {"team": "core"}),
    ("oncall_status", {"team": "core"}),
    ("todo_create", {"title": "write the postmortem"}),
    ("todo_list", {}),
]


@pytest.fixture
def host(plughost_factory, make_dist):
    make_dist("acme-oncall", TEST_PLUGINS / "results_oncall.py", namespace="oncall")
    return plughost_factory(plugins=["oncall", "todo"], in_process=True)


def validators(agent) -> dict[str, Draft202012Validator]:
    schemas = {tool["name"]: tool.get("outputSchema") for tool in agent.list_tools()}
    for schema in schemas.values():
        if schema is not None:
            Draft202012Validator.check_schema(schema)
    return {name: Draft202012Validator(s) for name, s in schemas.items() if s is not None}


def test_every_error_result_validates_against_the_tools_output_schema(host):
    agent = host.client()
    strict = validators(agent)
    for tool, arguments in FAILING_CALLS:
        call = agent.call(tool, **arguments)
        assert call.status_code == 200 and call.result["isError"] is True, (tool, call.body)
        assert call.error["code"], call.body
        errors = [e.message for e in strict[tool].iter_errors(call.data)]
        assert not errors, f"{tool} {arguments}: {errors}\n{json.dumps(call.data)}"
    for tool, arguments in SUCCEEDING_CALLS:
        call = agent.call(tool, **arguments)
        assert call.ok, call.body
        assert not list(strict[tool].iter_errors(call.data)), (tool, call.data)


def test_the_output_schema_still_rejects_what_the_tool_would_never_return(host):
    """Admitting errors does not turn the schema into "anything goes"."""
    strict = validators(host.client())
    assert list(strict["todo_get"].iter_errors({"title": "no id, no error"}))
    assert list(strict["oncall_responders"].iter_errors({"result": [1, 2]}))
    assert list(strict["oncall_status"].iter_errors({"error": {"code": "x"}}))


def test_a_bad_enum_value_is_a_structured_invalid_input_naming_the_public_tool(host):
    call = host.client(["oncall:write"]).call(
        "oncall_open_incident", title="db down", severity="urgent"
    )
    error = call.error
    assert error["code"] == "invalid_input", call.body
    assert error["details"]["tool"] == "oncall_open_incident"
    assert [e["field"] for e in error["details"]["errors"]] == ["severity"]
    assert "oncall_open_incident" in error["message"]
    assert "call[" not in error["message"] and "open_incident]" not in error["message"]
    assert "urgent" not in json.dumps(error)


def test_every_hint_is_stated_with_the_defaults_plugins_get(host):
    tools = {tool["name"]: tool["annotations"] for tool in host.client().list_tools()}
    hints = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
    for name, stated in tools.items():
        assert set(hints) <= set(stated), (name, stated)
    assert [tools["todo_create"][h] for h in hints] == [False, False, False, False]
    assert [tools["todo_list"][h] for h in hints] == [True, False, True, False]
    assert [tools["todo_delete"][h] for h in hints] == [False, True, False, False]
    assert [tools["todo_update"][h] for h in hints] == [False, False, True, False]
    assert tools["oncall_open_incident"]["destructiveHint"] is False
    assert tools["oncall_open_incident"]["openWorldHint"] is False
