"""A tool asking the client's model mid-call (sampling), over real HTTP: the Python SDK's
``ClientSession`` answering through its sampling callback on MCP 2025-11-25, and the clients
that cannot be asked (no sampling capability, JSON only, 2026-07-28) told so by a typed error."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from conftest import TEST_PLUGINS
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CreateMessageResult, ErrorData, TextContent
from processes import reachable
from redis.asyncio import Redis
from test_elicitation import call as modern_call
from test_elicitation import result_of
from test_stream_asking import VERSION, RawCall, answer, headers, initialize

from plughost.core.client_memory import ELICITATION, SAMPLING, RedisClientMemory

SCOPES = ["muse:write"]
CAN_SAMPLE = {"sampling": {}}


@pytest.fixture
def host(plughost_factory, make_dist):
    make_dist("acme-muse", TEST_PLUGINS / "sampling_muse.py", namespace="muse")
    return plughost_factory(plugins=["muse"], settings={"ask_timeout_seconds": 5})


def replying(text: str, seen: list[Any] | None = None):
    """A sampling callback that answers ``text``, noting each request's parameters."""

    async def callback(context: Any, params: Any) -> CreateMessageResult:
        if seen is not None:
            seen.append(params)
        content = TextContent(type="text", text=text)
        return CreateMessageResult(role="assistant", content=content, model="test-model")

    return callback


def session_call(url: str, token: str, callback: Any, tool: str, arguments: dict) -> Any:
    """``tool`` called through the Python SDK's `ClientSession` (the 2025-11-25 handshake),
    its sampling callback answering the server's ``sampling/createMessage``."""

    async def run() -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with (
            http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write, sampling_callback=callback) as session,
        ):
            assert (await session.initialize()).protocol_version == VERSION
            return await session.call_tool(tool, arguments)

    return asyncio.run(run())


def raw_call(url: str, token: str, tool: str, arguments: dict, accept: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 4, "method": "tools/call"}
    body["params"] = {"name": tool, "arguments": arguments}
    sent = {**headers(token), "Accept": accept}
    return httpx.post(url, json=body, headers=sent, timeout=30)


def error_of(result: Any) -> dict[str, Any]:
    assert result.is_error, result
    return result.structured_content["error"]


def test_the_python_client_samples_and_the_tool_returns_the_reply_audited(
    plughost_factory, make_dist, tmp_path
):
    make_dist("acme-muse", TEST_PLUGINS / "sampling_muse.py", namespace="muse")
    trail = tmp_path / "audit.jsonl"
    host = plughost_factory(
        plugins=["muse"], settings={"audit": {"sink": "file", "file": str(trail)}}
    )
    seen: list[Any] = []
    result = session_call(
        host.mcp_url,
        host.token(SCOPES),
        replying("old pond", seen),
        "muse_haiku",
        {"topic": "frogs"},
    )
    assert not result.is_error, result
    assert result.content[0].text == "poem: old pond"
    [params] = seen
    assert params.messages[0].role == "user"
    assert params.messages[0].content.text == "A haiku about frogs"
    assert (params.system_prompt, params.max_tokens) == ("You are a poet.", 60)
    host.stop()  # flushes the trail
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [(r["tool"], r["outcome"]) for r in records] == [("muse_haiku", "ok")]


def test_a_client_that_declines_gives_the_tool_a_typed_error(host):
    async def declining(context: Any, params: Any) -> ErrorData:
        return ErrorData(code=-1, message="User rejected sampling request")

    result = session_call(host.mcp_url, host.token(SCOPES), declining, "muse_haiku", {"topic": "x"})
    assert error_of(result) == {
        "code": "sampling_failed",
        "message": "the client did not sample: User rejected sampling request (error -1)",
    }


def test_a_tool_sends_at_most_ten_requests_to_its_client(host):
    token = host.token(SCOPES)
    done = session_call(host.mcp_url, token, replying("ok"), "muse_chain", {"times": 10})
    assert done.structured_content == {"result": ["ok"] * 10}
    result = session_call(host.mcp_url, token, replying("ok"), "muse_chain", {"times": 11})
    assert (
        error_of(result)["message"] == "the tool sent its client more than 10 requests in one call"
    )


@pytest.mark.parametrize("capabilities", [{}, {"elicitation": {}}])
def test_a_client_that_did_not_declare_sampling_cannot_sample(host, capabilities):
    token = host.token(SCOPES)
    initialize(host.mcp_url, token, capabilities)
    accept = "application/json, text/event-stream"
    fallback = raw_call(host.mcp_url, token, "muse_title", {"topic": "frogs"}, accept)
    assert fallback.json()["result"]["structuredContent"] == {"title": "Frogs", "sampled": False}
    refused = raw_call(host.mcp_url, token, "muse_haiku", {"topic": "frogs"}, accept)
    error = refused.json()["result"]["structuredContent"]["error"]
    assert error == {
        "code": "sampling_unavailable",
        "message": "muse_haiku asks the client's model, and this client cannot sample (it needs "
        "the sampling capability, MCP 2025-03-26 to 2025-11-25, and an event stream)",
    }


def test_a_client_that_reads_only_json_cannot_sample(host):
    token = host.token(SCOPES)
    initialize(host.mcp_url, token, CAN_SAMPLE)
    reply = raw_call(host.mcp_url, token, "muse_haiku", {"topic": "frogs"}, "application/json")
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json()["result"]["structuredContent"]["error"]["code"] == "sampling_unavailable"


def test_a_2026_07_28_client_cannot_sample(host):
    """Sampling is deprecated in 2026-07-28: declaring it there changes nothing."""
    token = host.token(SCOPES)
    reply = modern_call(
        host.mcp_url, token, "muse_title", {"topic": "frogs"}, capabilities=CAN_SAMPLE
    )
    assert result_of(reply)["structuredContent"] == {"title": "Frogs", "sampled": False}
    reply = modern_call(host.mcp_url, token, "muse_haiku", {"topic": "x"}, capabilities=CAN_SAMPLE)
    assert result_of(reply)["structuredContent"]["error"]["code"] == "sampling_unavailable"


def test_an_isolated_plugin_cannot_sample_even_for_a_client_that_can(
    plughost_factory, make_dist, monkeypatch
):
    """The worker's context has no relay to the client's model: ``can_sample`` is False and
    ``sample`` raises `SamplingUnavailable`, for a client that would be sampled in-process."""
    make_dist("acme-muse", TEST_PLUGINS / "sampling_muse.py", namespace="muse")
    monkeypatch.setenv("PYTHONPATH", str(make_dist.root))  # the worker finds it there too
    host = plughost_factory(plugins=["muse"], settings={"isolation": {"muse": "process"}})
    token, seen = host.token(SCOPES), []
    title = session_call(host.mcp_url, token, replying("x", seen), "muse_title", {"topic": "frogs"})
    assert title.structured_content == {"title": "Frogs", "sampled": False}
    haiku = session_call(host.mcp_url, token, replying("x", seen), "muse_haiku", {"topic": "x"})
    assert error_of(haiku) == {
        "code": "sampling_unavailable",
        "message": "muse_haiku asks the client's model, and a plugin isolated in a worker "
        "process cannot reach it",
    }
    assert seen == []  # the client was never asked


def test_no_reply_within_the_ask_timeout_ends_the_call_clearly(plughost_factory, make_dist):
    make_dist("acme-muse", TEST_PLUGINS / "sampling_muse.py", namespace="muse")
    host = plughost_factory(plugins=["muse"], settings={"ask_timeout_seconds": 0.2})
    token = host.token(SCOPES)
    initialize(host.mcp_url, token, CAN_SAMPLE)
    call = RawCall(host.mcp_url, token, "muse_haiku", {"topic": "silence"})
    request = call.wait_for_question()
    assert request["method"] == "sampling/createMessage"
    assert request["params"]["maxTokens"] == 60
    assert call.result()["structuredContent"]["error"] == {
        "code": "unanswered",
        "message": "the client's model did not answer within 0.2s",
        "details": {"request": "sampling"},
    }


def test_a_2025_03_26_client_that_declared_sampling_is_sent_the_request(host):
    """Sampling came before elicitation: a 2025-03-26 client is asked for the model's reply on
    the call's stream, never for its user's answer."""
    token = host.token(SCOPES)
    initialize(host.mcp_url, token, {"sampling": {}, "elicitation": {}})
    call = RawCall(host.mcp_url, token, "muse_haiku", {"topic": "rain"}, "2025-03-26")
    request = call.wait_for_question()
    assert request["method"] == "sampling/createMessage"
    reply = {"role": "assistant", "content": {"type": "text", "text": "drip"}, "model": "m"}
    assert answer(host.mcp_url, token, request["id"], reply).status_code == 202
    assert call.result()["content"][0]["text"] == "poem: drip"


@pytest.mark.skipif(not reachable(6379), reason="Redis is not running on 127.0.0.1:6379")
def test_replicas_read_each_others_declarations_in_redis_old_and_new():
    """During a rolling deploy a 0.4.0 replica stored ``1`` for "answers elicitation"; newer
    replicas store what was declared by name, and read both."""
    prefix = f"sampling-{uuid.uuid4().hex}"

    async def run() -> list[frozenset[str]]:
        client = Redis.from_url("redis://127.0.0.1:6379/0")
        try:
            await client.set(f"{prefix}:client:old", b"1")
            writer = RedisClientMemory(client, prefix=prefix, timeout=2)
            await writer.remember("new", frozenset({SAMPLING, ELICITATION}))
            await writer.remember("none", frozenset())
            reader = RedisClientMemory(client, prefix=prefix, timeout=2)
            names = ("old", "new", "none", "unknown")
            return [await reader.declared(owner) for owner in names]
        finally:
            await client.delete(*(f"{prefix}:client:{o}" for o in ("old", "new", "none")))
            await client.aclose()

    assert asyncio.run(run()) == [
        frozenset({ELICITATION}),
        frozenset({ELICITATION, SAMPLING}),
        frozenset(),
        frozenset(),
    ]
