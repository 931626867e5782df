"""A plugin that hangs or exits hurts only its own calls.

Each plugin's async tools, guardrail hooks and lifecycle hooks run on the plugin's own event
loops; the host's loop only waits for them, within their deadlines, and imports a plugin within
one too. So while the ``hog`` plugin's loop is stuck, the other plugins, the health endpoints
and the hog's own deadline all keep working. A ``rude`` plugin calls ``sys.exit``, raises
``KeyboardInterrupt`` and returns what its result type cannot hold: each is that call's
``internal_error``, and the plugin's loop and the server live on. All over real HTTP.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

HOG = """
import asyncio
import os
import threading
import time

from plughost import Plugin, ToolContext
from plughost.guardrails import CallInfo

plugin = Plugin(scopes={"hog:use": "Use the hog"})
STARTED = os.environ.get("HOG_STARTED_MARKER")


@plugin.tool(scopes=["hog:use"], timeout=3)
async def block(ctx: ToolContext, seconds: float) -> str:
    "Block the event loop it runs on, as a careless async tool would."
    if STARTED:
        open(STARTED, "w").write("started")
    time.sleep(seconds)
    return "done"


@plugin.tool(scopes=["hog:use"])
async def where(ctx: ToolContext) -> dict:
    "Which thread and loop async tools run on."
    await asyncio.sleep(0)
    return {"thread": threading.current_thread().name, "caller": ctx.caller.subject}


@plugin.before_call
async def slow_guard(call: CallInfo):
    if call.arguments.get("title") == "stall the guard":
        time.sleep(3)
    return None
"""

STUCK_START = """
import time

from plughost import Plugin

plugin = Plugin(scopes={"stuck:use": "Use it"})


@plugin.tool(scopes=["stuck:use"])
def poke(ctx) -> str:
    "Poke."
    return "ok"


@plugin.on_startup
async def start(runtime):
    time.sleep(3)
"""


RUDE = """
import asyncio
import sys

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"rude:use": "Use it"})


@plugin.tool(scopes=["rude:use"])
def quit(ctx: ToolContext) -> str:
    "Exit, as a script would."
    sys.exit(1)


@plugin.tool(scopes=["rude:use"])
async def aquit(ctx: ToolContext) -> str:
    "Exit from async code."
    raise SystemExit(3)


@plugin.tool(scopes=["rude:use"])
def own_timeout(ctx: ToolContext) -> str:
    "Raise a TimeoutError of its own, long before any deadline."
    raise TimeoutError("the upstream did not answer")


@plugin.tool(scopes=["rude:use"])
def interrupt(ctx: ToolContext) -> str:
    "Raise what Ctrl-C raises."
    raise KeyboardInterrupt


@plugin.tool(scopes=["rude:use"])
async def fire_and_forget(ctx: ToolContext) -> str:
    "Leave a task behind that exits."

    async def later() -> None:
        raise SystemExit(4)

    asyncio.get_running_loop().create_task(later())
    await asyncio.sleep(0.05)
    return "left"


@plugin.tool(scopes=["rude:use"])
def shapeless(ctx: ToolContext) -> dict:
    "Return what a dict result cannot be serialised from."
    return {"value": object()}


@plugin.tool(scopes=["rude:use"])
def flood(ctx: ToolContext, kib: int) -> list[str]:
    "Return about kib KiB of text."
    return ["x" * 1024] * kib


@plugin.tool(scopes=["rude:use"])
async def alive(ctx: ToolContext) -> str:
    "Answer."
    return "yes"
"""


def wait_for(path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_an_async_tool_that_blocks_stalls_only_its_own_plugin(
    plughost_factory, make_dist, tmp_path, monkeypatch
):
    marker = tmp_path / "started"
    monkeypatch.setenv("HOG_STARTED_MARKER", str(marker))
    make_dist("acme-hog", HOG, namespace="hog")
    host = plughost_factory(plugins=["hog", "todo"])
    agent = host.client(["hog:use", "todo:read", "todo:write"])
    with ThreadPoolExecutor(4) as pool:
        blocked = pool.submit(agent.call, "hog_block", seconds=6)
        wait_for(marker)
        assert agent.call("todo_create", title="still served").ok
        assert agent.call("todo_list").ok
        assert httpx.get(f"{host.base_url}/healthz", timeout=5).status_code == 200
        assert not blocked.done(), "the other plugin answered only after the blocking call"
        answer = blocked.result()
    assert answer.error["code"] == "timeout"
    assert "3s" in answer.error["message"]


def test_async_tools_run_on_their_plugins_loop_with_the_callers_context(
    plughost_factory, make_dist
):
    make_dist("acme-hog", HOG, namespace="hog")
    host = plughost_factory(plugins=["hog"])
    answer = host.client(["hog:use"], subject="ann").call("hog_where")
    assert answer.data == {"thread": "plughost-plugin-hog", "caller": "ann"}


def test_a_blocking_guardrail_refuses_in_time_and_the_host_stays_responsive(
    plughost_factory, make_dist
):
    make_dist("acme-hog", HOG, namespace="hog")
    host = plughost_factory(plugins=["hog", "todo"], settings={"guardrail_timeout_seconds": 0.5})
    agent = host.client(["todo:write"])
    with ThreadPoolExecutor(2) as pool:
        stalled = pool.submit(agent.call, "todo_create", title="stall the guard")
        time.sleep(0.2)
        assert httpx.get(f"{host.base_url}/healthz", timeout=5).status_code == 200
        answer = stalled.result()
    assert answer.status_code == 403
    assert answer.jsonrpc_error["data"]["rule"] == "guardrail:hog.before_call"


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (STUCK_START, "start-up did not finish within 0.5s"),
        ("import time\n\ntime.sleep(3)\n" + STUCK_START, "did not finish within 0.5s"),
        (
            STUCK_START.replace("time.sleep(3)", 'raise TimeoutError("the directory is slow")'),
            "TimeoutError: the directory is slow",
        ),
    ],
    ids=["start-up hangs", "import hangs", "start-up raises its own TimeoutError"],
)
def test_a_plugin_that_does_not_start_is_withdrawn_and_the_rest_serve(
    plughost_factory, make_dist, source, said
):
    make_dist("acme-stuck", source, namespace="stuck")
    host = plughost_factory(
        plugins=["stuck", "todo"],
        settings={"plugin_start_timeout_seconds": 0.5},
        allow_failures=True,
        in_process=True,
    )
    record = next(r for r in host.host.report.records if r.namespace == "stuck")
    assert record.status == "failed"
    assert said in record.error
    deadline = "did not finish" in said
    assert ("PLUGHOST_PLUGIN_START_TIMEOUT_SECONDS" in record.error) is deadline
    agent = host.client(["todo:read"])
    assert agent.call("todo_list").ok
    assert "stuck_poke" not in agent.tool_names()


def test_exits_and_unserialisable_results_fail_only_that_call(
    plughost_factory, make_dist, tmp_path
):
    make_dist("acme-rude", RUDE, namespace="rude")
    audit = tmp_path / "audit.jsonl"
    host = plughost_factory(
        plugins=["rude", "todo"], settings={"audit": {"sink": "file", "file": str(audit)}}
    )
    agent = host.client(["rude:use", "todo:read"])
    for tool in ("rude_quit", "rude_aquit", "rude_interrupt", "rude_shapeless", "rude_own_timeout"):
        answer = agent.call(tool)
        assert answer.status_code == 200, tool
        assert answer.error["code"] == "internal_error", tool
        assert answer.headers["x-request-id"] in answer.error["message"]
        assert "Traceback" not in answer.text and "object" not in answer.text
        assert agent.call("rude_alive").data == {"result": "yes"}
        assert agent.call("todo_list").ok
    assert agent.call("rude_fire_and_forget").data == {"result": "left"}
    assert agent.call("rude_alive").data == {"result": "yes"}
    assert httpx.get(f"{host.base_url}/healthz", timeout=5).status_code == 200
    host.stop()
    outcomes = [json.loads(line)["outcome"] for line in audit.read_text().splitlines()]
    assert outcomes.count("internal_error") == 5


def test_a_result_over_the_size_limit_is_refused_not_sent(plughost_factory, make_dist):
    make_dist("acme-rude", RUDE, namespace="rude")
    host = plughost_factory(
        plugins=["rude"], settings={"max_result_bytes": 100_000}, in_process=True
    )
    agent = host.client(["rude:use"])
    assert len(agent.call("rude_flood", kib=40).data["result"]) == 40
    answer = agent.call("rude_flood", kib=60)
    assert answer.error["code"] == "result_too_large"
    assert answer.error["details"]["limit"] == 100_000
    assert answer.error["details"]["bytes"] > 100_000
    assert "PLUGHOST_MAX_RESULT_BYTES" in answer.error["message"]
    assert len(answer.text) < 2_000
