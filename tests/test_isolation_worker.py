"""An isolated plugin behaves as it does in-process, and what it cannot do is refused clearly.

A plugin (its module written here, its directory on the workers' PYTHONPATH) served in a
worker: the caller and tenant reach its code; a scope it asks for while running is a step-up
403 naming it; ``token_for`` gets a downstream token for the caller, exchanged by the host (a
downstream API verifies it), or the same typed refusal as in-process; a message naming a call
that is not the worker's own in flight is refused; ``ctx.ask`` for a client that cannot answer
gives its fallback, and a 2026-07-28 client is asked in rounds the host seals (asking on the
stream: tests/test_stream_asking.py; the rounds: tests/test_elicitation.py, isolated too); a
plugin that declares guardrail hooks is not served isolated and the report says why; and a
worker will not start by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastmcp.client.elicitation import ElicitResult
from processes import cli_env, run_cli
from test_elicitation import call as modern_call
from test_elicitation import result_of
from test_stream_asking import sdk_call
from test_token_exchange import AUDIENCE, Downstream

from plughost.core.discovery import PluginStatus

ISOLATED = """
import httpx

from plughost import Plugin, ToolContext
from plughost.elicitation import Ask

plugin = Plugin(scopes={"iso:read": "Read", "iso:admin": "Administer"})


@plugin.tool(scopes=["iso:read"], conditional_scopes={"iso:admin": "to see everyone"})
def whoami(ctx: ToolContext, everyone: bool = False) -> dict:
    "Who is calling, from the worker's side."
    if everyone:
        ctx.require_scopes("iso:admin", reason="everyone's view")
    return {"subject": ctx.caller.subject, "tenant": ctx.caller.tenant_id}


@plugin.tool(scopes=["iso:read"])
async def downstream(ctx: ToolContext, api: str, audience: str, scopes: list[str]) -> dict:
    "Call another API as the caller, with a token the host exchanged."
    token = await ctx.token_for(audience, scopes)
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(api, headers=token.headers())
    return {"status": answer.status_code, "seen": answer.json(), "granted": list(token.scopes)}


@plugin.tool(scopes=["iso:read"])
async def forge(ctx: ToolContext, audience: str) -> dict:
    "A plugin naming a call that is not its own: its messages must go nowhere."
    from plughost.core.isolation.host_link import LinkedTokens, LinkedUpdates

    own = ctx.tokens._source  # the host's tokens for this call, through the worker's link
    LinkedUpdates(own.link, own.call + 1000).progress(99, None, "forged")
    ctx.progress(1, 1, "own")
    try:
        await LinkedTokens(own.link, own.call + 1000, ctx.plugin).token_for(audience, [])
    except Exception as exc:
        return {"refused": type(exc).__name__, "message": str(exc)}
    return {"refused": None}


@plugin.tool(scopes=["iso:read"], timeout=1)
def confirm_quickly(ctx: ToolContext) -> str | Ask:
    "Asks the user, with a short deadline of its own."
    answer = ctx.answer("go")
    if answer is None:
        return ctx.ask("go", "Go ahead?", fallback="call again with confirm=true")
    return "went" if answer.accepted else "stayed"


@plugin.tool(scopes=["iso:read"])
def where(ctx: ToolContext) -> dict:
    "Asks the user, remembering which process asked."
    import os

    if ctx.answer("go") is None:
        return ctx.ask("go", "Go ahead?", remember={"asked_in": os.getpid(), "by": "worker"})
    return {"asked_in": ctx.remembered["asked_in"], "pid": os.getpid()}


@plugin.tool(scopes=["iso:read"])
def confirm(ctx: ToolContext) -> str:
    "Asks the user first."
    if ctx.answer("go") is None:
        return ctx.ask("go", "Go ahead?", fallback="call again with confirm=true")
    return "went"
"""

GUARDED = """
from plughost import Plugin

plugin = Plugin(scopes={"guard:use": "Use"})


@plugin.before_call
def watch(call):
    return None
"""


@pytest.fixture
def isolated(plughost_factory, make_dist, monkeypatch: pytest.MonkeyPatch):
    make_dist("acme-iso", ISOLATED, namespace="iso")
    make_dist("acme-guard", GUARDED, namespace="guard")
    monkeypatch.setenv("PYTHONPATH", str(make_dist.root))  # the workers find them there too
    return plughost_factory(
        plugins=["iso", "guard"],
        settings={"isolation": {"iso": "process", "guard": "process"}},
        allow_failures=True,
    )


def test_an_isolated_plugin_sees_its_caller_and_steps_up_like_any_other(isolated):
    reply = isolated.client(["iso:read"], tenant="acme", subject="ada").call("iso_whoami")
    assert reply.ok, reply.body
    assert reply.data == {"subject": "ada", "tenant": "acme"}
    step_up = isolated.client(["iso:read"]).call("iso_whoami", everyone=True)
    assert step_up.status_code == 403
    assert step_up.missing_scopes == ["iso:admin"]
    assert isolated.client(["iso:read", "iso:admin"]).call("iso_whoami", everyone=True).ok


@pytest.fixture
def api() -> Iterator[Downstream]:
    served = Downstream().start()
    yield served
    served.stop()


@pytest.fixture
def exchanging(plughost_factory, make_dist, monkeypatch: pytest.MonkeyPatch, api: Downstream):
    """The plugin isolated, with token exchange granted to it, and an API that checks tokens."""
    make_dist("acme-iso", ISOLATED, namespace="iso")
    monkeypatch.setenv("PYTHONPATH", str(make_dist.root))
    grant = {"audiences": [AUDIENCE], "scopes": ["contacts:read"]}
    settings = {
        "isolation": {"iso": "process"},
        "token_exchange": {"enabled": True, "timeout_seconds": 1, "plugins": {"iso": grant}},
    }
    host = plughost_factory(plugins=["iso"], settings=settings)
    api.issuer = host.base_url
    return host


def _downstream(host, api: Downstream, audience: str = AUDIENCE, **caller):
    client = host.client(["iso:read"], **caller)
    return client.call("iso_downstream", api=api.url, audience=audience, scopes=["contacts:read"])


def test_token_for_in_an_isolated_plugin_acts_as_the_caller(exchanging, api):
    reply = _downstream(exchanging, api, subject="ada", tenant="acme")
    assert reply.ok, reply.body
    assert reply.data["status"] == 200
    seen = reply.data["seen"]
    assert seen["sub"] == "ada" and seen["oid"] == "acme"
    assert seen["aud"] == AUDIENCE and seen["scope"] == "contacts:read"
    assert reply.data["granted"] == ["contacts:read"]
    bob = _downstream(exchanging, api, subject="bob")
    assert bob.data["seen"]["sub"] == "bob"


def test_token_for_refusals_in_an_isolated_plugin_are_the_in_process_ones(exchanging, api):
    outside = _downstream(exchanging, api, audience="https://payroll.internal")
    assert outside.error["code"] == "token_exchange_refused"
    assert "https://payroll.internal" in outside.error["message"]
    assert "PLUGHOST_TOKEN_EXCHANGE__PLUGINS__ISO__" in outside.error["message"]
    assert outside.error["details"]["plugin"] == "iso"
    assert api.tokens == []


def test_token_for_is_refused_when_the_host_has_exchange_off(isolated, api):
    off = _downstream(isolated, api)
    assert off.error["code"] == "token_exchange_refused"
    assert api.tokens == []


def test_a_worker_naming_a_call_not_its_own_is_refused(exchanging):
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {
            "name": "iso_forge",
            "arguments": {"audience": AUDIENCE},
            "_meta": {"progressToken": "p"},
        },
    }
    headers = {
        "Authorization": f"Bearer {exchanging.token(['iso:read'])}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    reply = httpx.post(exchanging.mcp_url, json=body, headers=headers, timeout=30)
    events = [json.loads(line[6:]) for line in reply.text.splitlines() if line.startswith("data: ")]
    progress = [e["params"] for e in events if e.get("method") == "notifications/progress"]
    assert [(p["progress"], p.get("message")) for p in progress] == [(1.0, "own")]
    refused = json.loads(events[-1]["result"]["content"][0]["text"])
    assert refused["refused"] == "TokenExchangeRefused"
    assert "no call of this worker in flight" in refused["message"]


def test_ctx_ask_for_a_client_that_cannot_answer_gives_the_fallback(isolated):
    reply = isolated.client(["iso:read"]).call("iso_confirm")
    assert reply.error["code"] == "input_unavailable"
    assert reply.error["message"] == "call again with confirm=true"


def test_the_wait_for_an_answer_is_not_the_isolated_tools_time(isolated):
    async def slow(message, response_type, params, context):
        await asyncio.sleep(1.5)  # the user takes longer than the tool's own deadline (1 s)
        return ElicitResult(action="accept", content={})

    token = isolated.token(["iso:read"])
    result = sdk_call(isolated.mcp_url, token, slow, "iso_confirm_quickly", {})
    assert not result.is_error, result
    assert result.content[0].text == "went"


def test_a_2026_07_28_client_is_asked_in_rounds_by_an_isolated_plugin(isolated):
    """The worker's question ends the round; the host seals it, bound to its caller; the
    answered round runs in the worker again, with what the tool remembered."""
    token = isolated.token(["iso:read"])
    first = result_of(modern_call(isolated.mcp_url, token, "iso_where", {}))
    assert first["resultType"] == "input_required", first
    assert first["inputRequests"]["go"]["params"]["message"] == "Go ahead?"
    state = first["requestState"]
    assert "worker" not in state  # what the tool remembered is sealed by the host
    yes = {"go": {"action": "accept", "content": {}}}
    someone = isolated.token(["iso:read"], subject="mallory")
    stolen = modern_call(isolated.mcp_url, someone, "iso_where", {}, state=state, answers=yes)
    assert stolen.status_code == 400
    done = result_of(
        modern_call(isolated.mcp_url, token, "iso_where", {}, state=state, answers=yes)
    )
    asked_in, answered_in = done["structuredContent"]["asked_in"], done["structuredContent"]["pid"]
    assert asked_in == answered_in != os.getpid()  # the worker, in both rounds


def test_a_plugin_with_guardrail_hooks_is_not_served_isolated(isolated):
    record = next(r for r in isolated.host.report.records if r.namespace == "guard")
    assert record.status is PluginStatus.FAILED
    assert "guardrail hooks" in record.error and "PLUGHOST_ISOLATION__GUARD" in record.error


def test_a_worker_refuses_to_start_by_hand(tmp_path: Path):
    done = run_cli(cli_env(tmp_path), "worker", "todo")
    assert done.returncode == 2
    assert "not for running by hand" in done.stderr
    assert "PLUGHOST_ISOLATION__TODO=process" in done.stderr
