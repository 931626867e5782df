"""Argument-dependent scopes: declared on the tool, visible before the first 403, and checked.

A tool may need more scopes for some arguments (paging beyond the primary on-call). It declares
them as ``conditional_scopes`` with when each is needed: agents see them in ``tools/list``,
operators in ``plughost plugins``. Asking for a scope the plugin never declared is a bug caught
at load where the code names it, and refused loudly at call time where it does not.
"""

from __future__ import annotations

import pytest
from conftest import TEST_PLUGINS
from processes import cli_env, run_cli

from plughost.core.discovery import PluginStatus, discover


@pytest.fixture
def host(plughost_factory, make_dist):
    make_dist("acme-oncall", TEST_PLUGINS / "conditional_oncall.py", namespace="oncall")
    return plughost_factory(plugins=["oncall"], in_process=True)


def test_a_conditional_scope_is_listed_and_enforced(host):
    pager = host.client(["oncall:page"])
    (page,) = [tool for tool in pager.list_tools() if tool["name"] == "oncall_page"]
    assert page["_meta"]["plughost"]["scopes"] == ["oncall:page"]
    assert page["_meta"]["plughost"]["conditional_scopes"] == {
        "oncall:page:escalate": "when paging beyond the primary on-call"
    }
    assert pager.call("oncall_page", team="db").data == {"result": "paged db"}
    refused = pager.call("oncall_page", team="db", escalate=True)
    assert refused.status_code == 403
    assert refused.missing_scopes == ["oncall:page:escalate"]
    escalating = host.client(["oncall:page", "oncall:page:escalate"])
    assert escalating.call("oncall_page", team="db", escalate=True).ok


def test_a_declared_scope_the_tool_does_not_list_is_an_internal_error(host, caplog):
    admin = host.client(["oncall:page", "oncall:admin"])
    call = admin.call("oncall_override", team="db")
    assert call.status_code == 200, "no agent could have known to ask for it"
    assert call.error["code"] == "internal_error"
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "tool oncall_override asked for scope(s) oncall:admin, which it does not list" in logged
    assert "conditional_scopes={'oncall:admin': 'when ...'}" in logged


def test_a_scope_made_up_at_run_time_is_an_internal_error_not_a_403(host, caplog):
    agent = host.client(["oncall:page"])
    call = agent.call("oncall_level", name="root")
    assert call.status_code == 200, "a 403 would send the client after a scope nobody grants"
    assert call.error["code"] == "internal_error"
    assert "oncall:root" not in call.text
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "tool oncall_level asked for scope(s) oncall:root, which its plugin never declared" in (
        logged
    )


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (
            '@plugin.tool(scopes=["x:read"], conditional_scopes={"x:admin": "when sealed"})',
            "undeclared conditional scope(s) x:admin",
        ),
        (
            '@plugin.tool(scopes=["x:read"], conditional_scopes={"x:read": "always"})',
            "in both scopes and conditional_scopes",
        ),
        (
            '@plugin.tool(scopes=["x:read"], conditional_scopes={"x:write": " "})',
            "needs a description of when it is needed",
        ),
    ],
)
def test_bad_conditional_scopes_are_refused_at_load(make_dist, tool, message):
    make_dist(
        "acme-x",
        f"""
        from plughost import Plugin

        plugin = Plugin(scopes={{"x:read": "Read", "x:write": "Write"}})

        {tool}
        def get(ctx) -> str:
            "Get."
            return ""
        """,
        namespace="x",
    )
    record = next(r for r in discover(host_version="0.1.0", enabled=["x"]).records)
    assert record.status is PluginStatus.FAILED
    assert message in record.error


def test_a_literal_undeclared_scope_in_the_code_is_refused_at_load_with_its_line(make_dist):
    module = make_dist(
        "acme-y",
        """
        from plughost import Plugin

        plugin = Plugin(scopes={"y:read": "Read"})
        SEALED = "y:sealed"

        def _check(ctx):
            ctx.require_scopes(SEALED)

        @plugin.tool(scopes=["y:read"])
        def get(ctx, sealed: bool = False) -> str:
            "Get."
            if sealed:
                _check(ctx)
            return ""
        """,
        namespace="y",
    )
    record = next(r for r in discover(host_version="0.1.0", enabled=["y"]).records)
    assert record.status is PluginStatus.FAILED
    assert f"require_scopes('y:sealed') at {make_dist.root / module}.py:8" in record.error


def test_plughost_plugins_shows_conditional_scopes(make_dist, tmp_path):
    make_dist("acme-oncall", TEST_PLUGINS / "conditional_oncall.py", namespace="oncall")
    env = cli_env(tmp_path / "data", PYTHONPATH=str(make_dist.root))
    done = run_cli(env, "plugins", "--allow-failures")
    assert done.returncode == 0, done.stderr
    assert "+ oncall:page:escalate when paging beyond the primary on-call" in done.stdout
