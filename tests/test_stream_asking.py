"""Asking the user on the call's own stream, for clients on MCP 2025-11-25 (and 2025-06-18),
over real HTTP, the plugin in the host's process and in a worker of its own: the Python SDK's
client answering through its elicitation callback, and raw HTTP for what a client must not get
away with (another caller's answer, no answer at all)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest
from conftest import TEST_PLUGINS
from fastmcp import Client
from fastmcp.client.elicitation import ElicitResult
from fastmcp.client.transports import StreamableHttpTransport

SCOPES = ["ship:go"]
VERSION = "2025-11-25"
CAN_ELICIT = {"elicitation": {}}


@pytest.fixture(params=["in-process", "isolated"])
def host(request, plughost_factory, make_dist, monkeypatch: pytest.MonkeyPatch):
    """The plugin in the host's process, and in a worker of its own: asked the same way."""
    make_dist("acme-ship", TEST_PLUGINS / "elicitation_ship.py", namespace="ship")
    settings: dict[str, Any] = {"ask_timeout_seconds": 5}
    if request.param == "isolated":
        monkeypatch.setenv("PYTHONPATH", str(make_dist.root))  # the worker finds it there too
        settings["isolation"] = {"ship": "process"}
    return plughost_factory(plugins=["ship"], settings=settings)


def sdk_call(url: str, token: str, handler: Any, tool: str, arguments: dict) -> Any:
    """``tool`` called by the Python SDK's client on the 2025-11-25 handshake (``legacy``),
    its elicitation callback answering with ``handler``."""

    async def run() -> Any:
        transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
        async with Client(transport, elicitation_handler=handler, mode="legacy") as client:
            assert client.protocol_version == VERSION
            return await client.call_tool(tool, arguments, raise_on_error=False)

    return asyncio.run(run())


def answering(*replies: tuple[str, dict | None], seen: list | None = None):
    """An elicitation handler giving ``replies`` in turn, noting each question's message."""
    queue = list(replies)

    async def handler(message, response_type, params, context):
        if seen is not None:
            seen.append((message, params.requested_schema))
        action, content = queue.pop(0)
        return ElicitResult(action=action, content=content)

    return handler


def headers(token: str, version: str = VERSION) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": version,
    }


def initialize(url: str, token: str, capabilities: dict[str, Any]) -> None:
    params = {
        "protocolVersion": VERSION,
        "capabilities": capabilities,
        "clientInfo": {"name": "raw", "version": "1"},
    }
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    assert httpx.post(url, json=body, headers=headers(token)).status_code == 200


class RawCall:
    """A ``tools/call`` on its own thread, its event stream read as it comes: the question
    (the first request on it: elicitation or sampling) and, once answered, the call's answer."""

    def __init__(
        self, url: str, token: str, tool: str, arguments: dict[str, Any], version: str = VERSION
    ) -> None:
        self.url, self.token, self.version = url, token, version
        self.question: dict[str, Any] | None = None
        self.asked = threading.Event()
        self.messages: list[dict[str, Any]] = []
        self.status: int | None = None
        body = {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        self._thread = threading.Thread(target=self._run, args=(body,), daemon=True)
        self._thread.start()

    def _run(self, body: dict[str, Any]) -> None:
        with httpx.stream(
            "POST", self.url, json=body, headers=headers(self.token, self.version), timeout=30
        ) as reply:
            self.status = reply.status_code
            for line in reply.iter_lines():
                if not line.startswith("data: "):
                    continue
                message = json.loads(line[len("data: ") :])
                self.messages.append(message)
                if "method" in message and "id" in message:  # a request to the client
                    self.question = message
                    self.asked.set()
        self.asked.set()

    def wait_for_question(self) -> dict[str, Any]:
        assert self.asked.wait(20)
        assert self.question is not None, self.messages
        return self.question

    def result(self) -> dict[str, Any]:
        self._thread.join(30)
        assert not self._thread.is_alive()
        return self.messages[-1]["result"]


def answer(url: str, token: str, question_id: str, result: dict[str, Any]) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": question_id, "result": result}
    return httpx.post(url, json=body, headers=headers(token), timeout=10)


def test_the_python_client_is_asked_on_the_stream_and_the_tool_proceeds(host):
    seen: list = []
    result = sdk_call(
        host.mcp_url,
        host.token(SCOPES),
        answering(("accept", {}), seen=seen),
        "ship_ship",
        {"target": "moon"},
    )
    assert [message for message, _ in seen] == ["Ship to moon?"]
    assert not result.is_error, result
    assert result.content[0].text == "shipped to moon"


@pytest.mark.parametrize("action", ["decline", "cancel"])
def test_declining_or_cancelling_ends_the_call_as_the_tool_chose(host, action):
    result = sdk_call(
        host.mcp_url, host.token(SCOPES), answering((action, None)), "ship_ship", {"target": "sun"}
    )
    assert result.is_error
    assert result.structured_content["error"]["code"] == "not_shipped"
    message = result.structured_content["error"]["message"]
    assert message == f"the user chose {action}: nothing shipped"


def test_two_questions_with_a_form_and_what_the_tool_remembered(host):
    seen: list = []
    crew = {"size": 4, "lead": "ann", "shift": "night"}
    result = sdk_call(
        host.mcp_url,
        host.token(SCOPES),
        answering(("accept", {}), ("accept", crew), seen=seen),
        "ship_crew",
        {"target": "mars"},
    )
    assert [message for message, _ in seen] == ["Staff mars?", "Which crew?"]
    assert set(seen[1][1]["properties"]) == {"size", "lead", "shift"}
    assert result.structured_content == {
        "staffed": True,
        "crew": crew,
        "berth": "mars-7",
        "can_ask": True,
    }


def test_a_2025_03_26_client_is_never_asked(host):
    """Elicitation came with 2025-06-18: an older client gets the fallback even when its
    caller's client declared elicitation."""
    token = host.token(SCOPES)
    initialize(host.mcp_url, token, CAN_ELICIT)
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "ship_ship", "arguments": {"target": "moon"}},
    }
    reply = httpx.post(host.mcp_url, json=body, headers=headers(token, "2025-03-26"), timeout=30)
    error = reply.json()["result"]["structuredContent"]["error"]
    assert error["code"] == "input_unavailable"


def test_a_client_that_never_declared_elicitation_gets_the_fallback(host):
    token = host.token(SCOPES)
    initialize(host.mcp_url, token, {})
    reply = httpx.post(
        host.mcp_url,
        json={
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "ship_ship", "arguments": {"target": "moon"}},
        },
        headers=headers(token),
        timeout=30,
    )
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["result"]["structuredContent"]["error"]
    assert error["code"] == "input_unavailable"
    assert error["message"] == "ask the user, then call again with confirm=true"


@pytest.mark.parametrize("version", ["2025-06-18", VERSION])
def test_an_answer_from_another_caller_is_refused_and_the_right_one_counts(host, version):
    token = host.token(SCOPES)
    initialize(host.mcp_url, token, CAN_ELICIT)
    call = RawCall(host.mcp_url, token, "ship_ship", {"target": "venus"}, version)
    question = call.wait_for_question()
    assert question["params"]["message"] == "Ship to venus?"
    assert question["id"].startswith("plughost-ask:")
    stranger = host.token(SCOPES, subject="mallory")
    refused = answer(host.mcp_url, stranger, question["id"], {"action": "accept", "content": {}})
    assert refused.status_code == 404
    accepted = answer(host.mcp_url, token, question["id"], {"action": "accept", "content": {}})
    assert accepted.status_code == 202
    again = answer(host.mcp_url, token, question["id"], {"action": "decline"})
    assert again.status_code == 404  # one answer per question
    assert call.result()["content"][0]["text"] == "shipped to venus"


def test_no_answer_within_the_ask_timeout_ends_the_call_clearly(plughost_factory, make_dist):
    make_dist("acme-ship", TEST_PLUGINS / "elicitation_ship.py", namespace="ship")
    host = plughost_factory(plugins=["ship"], settings={"ask_timeout_seconds": 0.2})
    token = host.token(SCOPES)
    initialize(host.mcp_url, token, CAN_ELICIT)
    call = RawCall(host.mcp_url, token, "ship_ship", {"target": "pluto"})
    question = call.wait_for_question()
    error = call.result()["structuredContent"]["error"]
    assert error == {
        "code": "unanswered",
        "message": "the user did not answer within 0.2s; nothing was done",
        "details": {"question": "confirm"},
    }
    late = answer(host.mcp_url, token, question["id"], {"action": "accept", "content": {}})
    assert late.status_code == 404
