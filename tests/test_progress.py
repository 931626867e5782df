"""A running tool's progress and log messages reach the client on the call's response stream,
over real HTTP, whether the plugin runs in the host's process or in a worker of its own; a
client that reads only JSON gets its plain JSON answer."""

from __future__ import annotations

import json

import httpx
import pytest

WORKER = '''
import asyncio
import time

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"work:do": "Do work"})


@plugin.tool(scopes=["work:do"])
async def crunch(ctx: ToolContext, steps: int = 3) -> str:
    """Work in steps, saying how far it is."""
    ctx.log("started", level="info")
    for step in range(steps):
        ctx.progress(step + 1, steps, f"step {step + 1}")
        await asyncio.sleep(0.01)
    ctx.log("done", level="debug", steps=steps)
    return f"crunched {steps}"


@plugin.tool(scopes=["work:do"])
def grind(ctx: ToolContext) -> str:
    """A sync tool reporting from its worker thread."""
    for step in range(2):
        ctx.progress(step + 1, 2)
        time.sleep(0.01)
    return "ground"


@plugin.tool(scopes=["work:do"])
def flood(ctx: ToolContext, count: int) -> str:
    """Says far more than any client reads."""
    for step in range(count):
        ctx.progress(step, count)
    return "flooded"


@plugin.tool(scopes=["work:do"])
def quiet(ctx: ToolContext) -> str:
    """Says nothing."""
    return "quiet"
'''


@pytest.fixture(params=["in-process", "isolated"])
def host(request, plughost_factory, make_dist, monkeypatch: pytest.MonkeyPatch):
    """The same plugin in the host's process and in a worker process of its own: its client
    sees the same stream."""
    make_dist("acme-work", WORKER, namespace="work")
    if request.param == "in-process":
        return plughost_factory(plugins=["work"])
    monkeypatch.setenv("PYTHONPATH", str(make_dist.root))  # the worker finds it there too
    return plughost_factory(plugins=["work"], settings={"isolation": {"work": "process"}})


def _call(host, tool, arguments, *, accept, token=None):
    meta = {"progressToken": token} if token is not None else None
    params = {"name": tool, "arguments": arguments, **({"_meta": meta} if meta else {})}
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    headers = {
        "Authorization": f"Bearer {host.token(['work:do'])}",
        "Accept": accept,
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    return httpx.post(host.mcp_url, json=body, headers=headers, timeout=30)


def _events(reply):
    assert reply.headers["content-type"].startswith("text/event-stream")
    return [
        json.loads(line[len("data: ") :])
        for line in reply.text.splitlines()
        if line.startswith("data: ")
    ]


def test_progress_and_logs_come_first_on_the_stream(host):
    reply = _call(
        host, "work_crunch", {"steps": 3}, accept="application/json, text/event-stream", token="t1"
    )
    assert reply.status_code == 200
    events = _events(reply)
    methods = [event.get("method") for event in events]
    assert methods == [
        "notifications/message",
        "notifications/progress",
        "notifications/progress",
        "notifications/progress",
        "notifications/message",
        None,
    ]
    progress = [e["params"] for e in events if e.get("method") == "notifications/progress"]
    assert [(p["progressToken"], p["progress"], p["total"]) for p in progress] == [
        ("t1", 1.0, 3.0),
        ("t1", 2.0, 3.0),
        ("t1", 3.0, 3.0),
    ]
    assert progress[0]["message"] == "step 1"
    logs = [e["params"] for e in events if e.get("method") == "notifications/message"]
    assert logs[0] == {"level": "info", "logger": "work_crunch", "data": "started"}
    assert logs[1]["data"] == {"message": "done", "steps": 3}
    assert events[-1]["id"] == 7
    assert events[-1]["result"]["content"][0]["text"] == "crunched 3"


def test_without_a_progress_token_only_the_logs_are_sent(host):
    reply = _call(host, "work_crunch", {"steps": 2}, accept="application/json, text/event-stream")
    methods = [event.get("method") for event in _events(reply)]
    assert methods == ["notifications/message", "notifications/message", None]


def test_a_client_that_reads_only_json_gets_its_plain_answer(host):
    reply = _call(host, "work_crunch", {"steps": 3}, accept="application/json", token="t2")
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["result"]["content"][0]["text"] == "crunched 3"


def test_a_sync_tool_reports_from_its_thread(host):
    reply = _call(host, "work_grind", {}, accept="application/json, text/event-stream", token=9)
    events = _events(reply)
    assert [e["params"]["progress"] for e in events[:-1]] == [1.0, 2.0]
    assert events[-1]["result"]["content"][0]["text"] == "ground"


def test_a_call_that_says_nothing_is_answered_in_json(host):
    reply = _call(host, "work_quiet", {}, accept="application/json, text/event-stream", token=1)
    assert reply.headers["content-type"] == "application/json"


def test_a_flood_of_progress_never_blocks_the_call(host):
    reply = _call(
        host, "work_flood", {"count": 20_000}, accept="application/json, text/event-stream", token=3
    )
    events = _events(reply)
    assert events[-1]["result"]["content"][0]["text"] == "flooded"
    assert len(events) - 1 < 20_000  # the surplus was dropped, not queued without bound
