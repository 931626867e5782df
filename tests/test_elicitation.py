"""Asking the user mid-call, over real HTTP: MCP 2026-07-28's multi-round-trip flow with a sealed
request state every replica can open, and the argument-only fallback for older clients; the
plugin in the host's process and in a worker of its own, asked the same way."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from conftest import TEST_PLUGINS
from fastmcp import Client
from fastmcp.client.elicitation import ElicitResult
from fastmcp.client.transports import StreamableHttpTransport
from sqlalchemy import text

from plughost.testing import free_port

MODERN = "2026-07-28"
SCOPES = ["ship:go"]
CAN_ELICIT = {"elicitation": {"form": {}}}


MODES = ["in-process", "isolated"]


def ship_settings(mode: str, make_dist: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The ship plugin installed, and the settings that serve it in ``mode``."""
    make_dist("acme-ship", TEST_PLUGINS / "elicitation_ship.py", namespace="ship")
    if mode == "in-process":
        return {}
    monkeypatch.setenv("PYTHONPATH", str(make_dist.root))  # the worker finds it there too
    return {"isolation": {"ship": "process"}}


@pytest.fixture(params=MODES)
def host(request, plughost_factory, make_dist, monkeypatch: pytest.MonkeyPatch):
    settings = ship_settings(request.param, make_dist, monkeypatch)
    return plughost_factory(plugins=["ship"], settings=settings)


def call(
    url: str,
    token: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    state: str | None = None,
    answers: dict[str, Any] | None = None,
    capabilities: dict[str, Any] = CAN_ELICIT,
) -> httpx.Response:
    """One 2026-07-28 ``tools/call``, as a modern client sends it: the version, method and
    name in headers, the version and capabilities in ``_meta``; a later round echoes
    ``state`` and carries the user's ``answers``."""
    params: dict[str, Any] = {
        "name": tool,
        "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": capabilities,
        },
    }
    if state is not None:
        params["requestState"] = state
    if answers is not None:
        params["inputResponses"] = answers
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    return httpx.post(url, json=body, headers=headers, timeout=30)


def result_of(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text
    return reply.json()["result"]


def asked(reply: httpx.Response) -> tuple[dict[str, Any], str]:
    """The questions of an ``input_required`` round, and its sealed state."""
    result = result_of(reply)
    assert result["resultType"] == "input_required", result
    return result["inputRequests"], result["requestState"]


def with_client(url: str, token: str, handler: Any, tool: str, arguments: dict) -> Any:
    """``tool`` called by the Python SDK's client (it negotiates 2026-07-28 and drives the
    rounds itself, asking ``handler``)."""

    async def run() -> Any:
        transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
        async with Client(transport, elicitation_handler=handler) as client:
            return await client.call_tool(tool, arguments, raise_on_error=False)

    return asyncio.run(run())


def answering(action: str, content: dict[str, Any] | None = None, seen: list | None = None):
    async def handler(message, response_type, params, context):
        if seen is not None:
            seen.append(message)
        return ElicitResult(action=action, content=content)

    return handler


def test_the_python_client_asks_its_user_and_the_tool_proceeds(host):
    seen: list[str] = []
    result = with_client(
        host.mcp_url,
        host.token(SCOPES),
        answering("accept", {}, seen),
        "ship_ship",
        {"target": "moon"},
    )
    assert seen == ["Ship to moon?"]
    assert not result.is_error, result
    assert result.content[0].text == "shipped to moon"


@pytest.mark.parametrize("action", ["decline", "cancel"])
def test_declining_or_cancelling_ends_the_call_as_the_tool_chose(host, action):
    result = with_client(
        host.mcp_url, host.token(SCOPES), answering(action), "ship_ship", {"target": "moon"}
    )
    assert result.is_error
    assert result.structured_content["error"] == {
        "code": "not_shipped",
        "message": f"the user chose {action}: nothing shipped",
    }


def test_two_questions_in_two_rounds_with_what_the_tool_remembered(host):
    token = host.token(SCOPES)
    questions, state = asked(call(host.mcp_url, token, "ship_crew", {"target": "moon"}))
    assert questions == {
        "go": {
            "method": "elicitation/create",
            "params": {
                "message": "Staff moon?",
                "mode": "form",
                "requestedSchema": {"type": "object", "properties": {}},
            },
        }
    }
    assert "moon-7" not in state  # what the tool remembered is sealed, not readable
    go = {"go": {"action": "accept", "content": {}}}
    questions, state = asked(
        call(host.mcp_url, token, "ship_crew", {"target": "moon"}, state=state, answers=go)
    )
    form = questions["crew"]["params"]["requestedSchema"]
    assert form["required"] == ["size", "lead"]
    assert form["properties"]["shift"]["enum"] == ["day", "night"]
    crew = {"crew": {"action": "accept", "content": {"size": 3, "lead": "ann"}}}
    done = result_of(
        call(host.mcp_url, token, "ship_crew", {"target": "moon"}, state=state, answers=crew)
    )
    assert done["resultType"] == "complete"
    assert done["structuredContent"] == {
        "staffed": True,
        "crew": {"size": 3, "lead": "ann", "shift": "day"},
        "berth": "moon-7",
        "can_ask": True,
    }


def test_an_answer_that_does_not_fit_the_form_is_invalid_input(host):
    token = host.token(SCOPES)
    _, state = asked(call(host.mcp_url, token, "ship_crew", {"target": "moon"}))
    go = {"go": {"action": "accept", "content": {}}}
    _, state = asked(
        call(host.mcp_url, token, "ship_crew", {"target": "moon"}, state=state, answers=go)
    )
    crew = {"crew": {"action": "accept", "content": {"size": "many"}}}
    done = result_of(
        call(host.mcp_url, token, "ship_crew", {"target": "moon"}, state=state, answers=crew)
    )
    assert done["isError"]
    error = done["structuredContent"]["error"]
    assert error["code"] == "invalid_input"
    assert error["details"] == {"question": "crew", "fields": ["lead", "size"]}


def test_a_tampered_state_is_refused_before_the_tool_runs(host):
    token = host.token(SCOPES)
    _, state = asked(call(host.mcp_url, token, "ship_ship", {"target": "moon"}))
    yes = {"confirm": {"action": "accept", "content": {}}}
    flipped = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    reply = call(host.mcp_url, token, "ship_ship", {"target": "moon"}, state=flipped, answers=yes)
    assert reply.status_code == 400
    assert reply.json()["error"] == {
        "code": -32602,
        "message": "Invalid or expired requestState",
        "data": {"reason": "invalid_request_state"},
    }


def test_a_state_is_bound_to_its_arguments_and_its_caller(host):
    token = host.token(SCOPES)
    _, state = asked(call(host.mcp_url, token, "ship_ship", {"target": "moon"}))
    yes = {"confirm": {"action": "accept", "content": {}}}
    elsewhere = call(host.mcp_url, token, "ship_ship", {"target": "mars"}, state=state, answers=yes)
    assert elsewhere.status_code == 400
    assert elsewhere.json()["error"]["code"] == -32602
    someone = host.token(SCOPES, subject="mallory")
    stolen = call(host.mcp_url, someone, "ship_ship", {"target": "moon"}, state=state, answers=yes)
    assert stolen.status_code == 400
    assert stolen.json()["error"]["code"] == -32602


def test_an_answer_to_a_question_never_asked_does_not_count(host):
    """A client that skips the first round (no sealed state) is asked again."""
    yes = {"confirm": {"action": "accept", "content": {}}}
    reply = call(host.mcp_url, host.token(SCOPES), "ship_ship", {"target": "moon"}, answers=yes)
    questions, _ = asked(reply)
    assert list(questions) == ["confirm"]


def test_neither_the_state_nor_the_answers_are_logged(host, caplog):
    caplog.set_level(logging.DEBUG)
    token = host.token(SCOPES)
    _, state = asked(call(host.mcp_url, token, "ship_crew", {"target": "moon"}))
    go = {"go": {"action": "accept", "content": {}}}
    _, state = asked(
        call(host.mcp_url, token, "ship_crew", {"target": "moon"}, state=state, answers=go)
    )
    crew = {"crew": {"action": "accept", "content": {"size": 3, "lead": "secret-ann"}}}
    result_of(call(host.mcp_url, token, "ship_crew", {"target": "moon"}, state=state, answers=crew))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "secret-ann" not in logged
    assert state not in logged
    assert "moon-7" not in logged


@pytest.mark.parametrize("mode", MODES)
def test_the_state_one_replica_sealed_another_opens(
    plughost_factory, make_dist, tmp_path, monkeypatch, mode
):
    """Two hosts on one database (and one data directory: the dev issuer's keys) are two
    replicas behind a load balancer: the question is asked by one, answered to the other."""
    settings = ship_settings(mode, make_dist, monkeypatch)
    first, second = free_port(), free_port()
    settings["auth"] = {"public_url": f"http://127.0.0.1:{first}"}
    a = plughost_factory(plugins=["ship"], data_dir=tmp_path, port=first, settings=settings)
    b = plughost_factory(plugins=["ship"], data_dir=tmp_path, port=second, settings=settings)
    token = a.token(SCOPES)
    _, state = asked(call(a.mcp_url, token, "ship_ship", {"target": "moon"}))
    yes = {"confirm": {"action": "accept", "content": {}}}
    done = result_of(
        call(b.mcp_url, token, "ship_ship", {"target": "moon"}, state=state, answers=yes)
    )
    assert done["content"][0]["text"] == "shipped to moon"
    with a.host.engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM plughost_keys")).scalars().all()
    assert "request-state" in names


def test_a_client_that_cannot_answer_is_told_how_to_proceed(host):
    """A modern client without elicitation, and a 2025-11-25 client, get the tool's fallback;
    the fallback argument then does the job without asking."""
    token = host.token(SCOPES)
    modern = result_of(call(host.mcp_url, token, "ship_ship", {"target": "moon"}, capabilities={}))
    client = host.client(SCOPES)
    older = client.call("ship_ship", target="moon")
    for result in (modern, older.result):
        assert result["isError"]
        assert result["structuredContent"]["error"] == {
            "code": "input_unavailable",
            "message": "ask the user, then call again with confirm=true",
            "details": {"question": "confirm"},
        }
    confirmed = client.call("ship_ship", target="moon", confirm=True)
    assert confirmed.ok, confirmed.body
    assert confirmed.text == "shipped to moon"


def test_a_tool_that_cannot_ask_says_so_without_a_fallback(host):
    older = host.client(SCOPES).call("ship_crew", target="moon")
    assert older.error == {
        "code": "input_unavailable",
        "message": "ship_crew needs an answer from the user, and this client cannot ask "
        "(it needs elicitation, and MCP 2026-07-28 or an event stream)",
        "details": {"question": "go"},
    }


@pytest.mark.parametrize("mode", MODES)
def test_each_round_is_audited_and_a_refused_state_too(
    plughost_factory, make_dist, tmp_path, monkeypatch, mode
):
    settings = ship_settings(mode, make_dist, monkeypatch)
    trail = tmp_path / "audit.jsonl"
    settings["audit"] = {"sink": "file", "file": str(trail)}
    host = plughost_factory(plugins=["ship"], settings=settings)
    token = host.token(SCOPES)
    _, state = asked(call(host.mcp_url, token, "ship_ship", {"target": "moon"}))
    yes = {"confirm": {"action": "accept", "content": {}}}
    call(host.mcp_url, token, "ship_ship", {"target": "moon"}, state=state + "x", answers=yes)
    result_of(call(host.mcp_url, token, "ship_ship", {"target": "moon"}, state=state, answers=yes))
    host.stop()  # flushes the trail
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [(r["tool"], r["outcome"], r["detail"]) for r in records] == [
        ("ship_ship", "ok", "input_required"),
        ("ship_ship", "bad_request", "refused by the transport (400)"),
        ("ship_ship", "ok", None),
    ]
    assert state not in trail.read_text()
