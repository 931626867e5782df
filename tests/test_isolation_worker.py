"""An isolated plugin behaves as it does in-process, and what it cannot do is refused clearly.

A plugin (its module written here, its directory on the workers' PYTHONPATH) served in a
worker: the caller and tenant reach its code; a scope it asks for while running is a step-up
403 naming it; ``token_for`` is refused with a typed error; a plugin that declares guardrail
hooks is not served isolated and the report says why; and a worker will not start by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import cli_env, run_cli

from plughost.core.discovery import PluginStatus

ISOLATED = """
from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"iso:read": "Read", "iso:admin": "Administer"})


@plugin.tool(scopes=["iso:read"], conditional_scopes={"iso:admin": "to see everyone"})
def whoami(ctx: ToolContext, everyone: bool = False) -> dict:
    "Who is calling, from the worker's side."
    if everyone:
        ctx.require_scopes("iso:admin", reason="everyone's view")
    return {"subject": ctx.caller.subject, "tenant": ctx.caller.tenant_id}


@plugin.tool(scopes=["iso:read"])
async def downstream(ctx: ToolContext) -> str:
    "Ask for a token for another API."
    token = await ctx.token_for("https://api.internal")
    return token.token_type
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


def test_token_for_in_an_isolated_plugin_is_refused_with_a_typed_error(isolated):
    reply = isolated.client(["iso:read"]).call("iso_downstream")
    assert reply.error["code"] == "token_exchange_refused"
    assert "PLUGHOST_ISOLATION__ISO=process" in reply.error["message"]


def test_a_plugin_with_guardrail_hooks_is_not_served_isolated(isolated):
    record = next(r for r in isolated.host.report.records if r.namespace == "guard")
    assert record.status is PluginStatus.FAILED
    assert "guardrail hooks" in record.error and "PLUGHOST_ISOLATION__GUARD" in record.error


def test_a_worker_refuses_to_start_by_hand(tmp_path: Path):
    done = run_cli(cli_env(tmp_path), "worker", "todo")
    assert done.returncode == 2
    assert "not for running by hand" in done.stderr
    assert "PLUGHOST_ISOLATION__TODO=process" in done.stderr
