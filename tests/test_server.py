"""The server end to end: real processes, real HTTP, the official clients."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest
from conftest import ManualClock, simple_plugin
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from processes import cli_env, run_cli, serve

from plughost.testing import McpClient, free_port


def test_fastmcp_client_lists_and_calls_with_meta(plughost_factory, make_dist):
    make_dist("acme-alpha", simple_plugin("alpha"))
    host = plughost_factory(plugins=["alpha", "todo"])
    token = host.token(["alpha:read", "todo:read", "todo:write"], tenant="acme", subject="ann")
    asyncio.run(_list_and_call(host.mcp_url, token))


async def _list_and_call(url: str, token: str) -> None:
    transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
    async with Client(transport) as client:
        tools = {t.name: t for t in await client.list_tools()}
        assert {"alpha_echo", "todo_create", "todo_list"} <= set(tools)
        assert tools["alpha_echo"].meta["plughost"] == {
            "plugin": "alpha",
            "version": "1.0.0",
            "scopes": ["alpha:read"],
            "conditional_scopes": {},
        }
        assert tools["todo_list"].annotations.read_only_hint is True
        assert tools["todo_delete"].annotations.destructive_hint is True
        result = await client.call_tool("alpha_echo", {"text": "hi"})
        assert result.structured_content == {"text": "hi", "tenant": "acme", "subject": "ann"}


def test_healthz_is_public_and_reports_plugin_statuses(plughost_factory, make_dist):
    make_dist("acme-broken", "raise ImportError('secret path /etc/x')\n", namespace="broken")
    host = plughost_factory(plugins=["todo", "broken"], allow_failures=True)
    body = httpx.get(f"{host.base_url}/healthz").json()
    statuses = {p["namespace"]: p["status"] for p in body["plugins"]}
    assert statuses["todo"] == "loaded"
    assert statuses["broken"] == "failed"
    assert body["status"] == "degraded"
    assert "secret path" not in httpx.get(f"{host.base_url}/healthz").text


def test_a_plugin_whose_startup_fails_is_withdrawn(plughost_factory, make_dist):
    make_dist(
        "acme-fragile",
        """
        from plughost import Plugin

        plugin = Plugin(scopes={"fragile:use": "Use it"})

        @plugin.tool(scopes=["fragile:use"])
        def poke(ctx) -> str:
            "Poke."
            return "ok"

        @plugin.on_startup
        async def start(runtime):
            raise ConnectionError("backend unreachable")
        """,
        namespace="fragile",
    )
    host = plughost_factory(plugins=["fragile", "todo"], allow_failures=True)
    agent = host.client(["fragile:use", "todo:read"])
    assert "fragile_poke" not in agent.tool_names()
    assert agent.call("todo_list").ok
    record = next(r for r in host.host.report.records if r.namespace == "fragile")
    assert record.status == "failed"
    assert "backend unreachable" in record.error


def test_startup_and_shutdown_hooks_run_once_each(plughost_factory, make_dist, tmp_path):
    marker = tmp_path / "events.log"
    make_dist(
        "acme-life",
        f"""
        from plughost import Plugin

        plugin = Plugin(scopes={{"life:use": "Use it"}})

        @plugin.on_startup
        def start(runtime):
            runtime.state["started"] = True
            open({str(marker)!r}, "a").write("start\\n")

        @plugin.on_shutdown
        def stop(runtime):
            open({str(marker)!r}, "a").write("stop\\n")

        @plugin.tool(scopes=["life:use"])
        def started(ctx) -> bool:
            "Whether start-up ran."
            return ctx.state.get("started", False)
        """,
        namespace="life",
    )
    host = plughost_factory(plugins=["life"])
    for _ in range(3):
        assert host.client().call("life_started").data == {"result": True}
    host.stop()
    assert marker.read_text() == "start\nstop\n"


def test_unexpected_tool_exception_is_masked(plughost_factory, make_dist):
    make_dist(
        "acme-oops",
        """
        from plughost import Plugin

        plugin = Plugin(scopes={"oops:use": "Use it"})

        @plugin.tool(scopes=["oops:use"])
        def fail(ctx) -> str:
            "Always fails."
            raise RuntimeError("password=hunter2 in a stack frame")
        """,
        namespace="oops",
    )
    host = plughost_factory(plugins=["oops"])
    call = host.client().call("oops_fail")
    assert call.status_code == 200
    assert call.result["isError"] is True
    assert "hunter2" not in call.text
    assert "Traceback" not in call.text


def test_the_start_banner_counts_plugins_and_mounts(tmp_path):
    weather = Path(__file__).parent / "upstreams" / "weather.py"
    mount = {
        "PLUGHOST_MOUNTS__WEATHER__COMMAND": json.dumps([sys.executable, str(weather)]),
        "PLUGHOST_MOUNTS__WEATHER__SCOPES": json.dumps({"weather:read": "Read forecasts"}),
        "PLUGHOST_MOUNTS__WEATHER__TOOLS": json.dumps({"forecast": ["weather:read"]}),
    }
    env = cli_env(tmp_path / "data", PLUGHOST_ENABLED_PLUGINS="todo,crm", **mount)
    port = free_port()
    banner, _ = serve(env, port=port).stop()
    assert f"Plughost: 2 plugin(s) and 1 mount(s) at http://127.0.0.1:{port}/mcp" in banner


def test_installing_a_second_plugin_and_restarting_adds_its_tools(tmp_path, make_dist):
    env = cli_env(tmp_path / "data")
    port = free_port()
    first = serve(env, port=port)
    try:
        client = first.client("todo:read todo:write")
        assert client.call("todo_create", title="before restart").ok
        assert not any(n.startswith("alpha_") for n in client.tool_names())
    finally:
        banner, _ = first.stop()
    assert "plughost token" in banner
    assert "opens the consent page in your browser" in banner
    assert f"Console: http://127.0.0.1:{port}/console" in banner

    make_dist("acme-alpha", simple_plugin("alpha"))
    second = serve({**env, "PYTHONPATH": str(make_dist.root)}, port=port)
    try:
        client = second.client("todo:read alpha:read")
        assert "alpha_echo" in client.tool_names()
        assert client.call("alpha_echo", text="new").data["text"] == "new"
        titles = [i["title"] for i in client.call("todo_list").data["items"]]
        assert titles == ["before restart"]
    finally:
        second.stop()


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10"])
def test_dev_issuer_refuses_non_loopback_without_the_flag(tmp_path, bind):
    done = run_cli(cli_env(tmp_path / "data"), "serve", "--host", bind, "--port", "1")
    assert done.returncode == 2
    assert "refusing to serve the dev issuer" in done.stderr
    assert "--allow-remote-dev-issuer" in done.stderr


def test_dev_issuer_keys_are_private_and_reused(plughost_factory, tmp_path):
    data = tmp_path / "data"
    host = plughost_factory(plugins=["todo"], data_dir=data)
    key = data / "dev-issuer" / "signing-key.pem"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert oct((data / "dev-issuer" / "client.json").stat().st_mode & 0o777) == "0o600"
    token = host.token(["todo:read"])
    host.restart()
    assert McpClient(host.mcp_url, token).call("todo_list").ok


def test_replicas_sharing_the_dev_key_store_read_each_others_new_key(plughost_factory, tmp_path):
    """The dev issuer's keys are read in-process from the key store the replicas share, not
    fetched from the host's own origin: a replica restarted after the key was deleted (a
    rotation) signs with a new key, and one still running accepts its tokens once it reads
    the store again; a token signed by neither key stays refused."""
    data, port, clock = tmp_path / "shared", free_port(), ManualClock()
    old = plughost_factory(plugins=["todo"], data_dir=data, port=port, clock=clock, in_process=True)
    assert old.client(["todo:read"]).call("todo_list").ok  # its key cache is warm
    (data / "dev-issuer" / "signing-key.pem").unlink()
    new = plughost_factory(plugins=["todo"], data_dir=data, port=port, in_process=True)
    rotated = new.token(["todo:read"])
    assert new.client(token=rotated).call("todo_list").ok
    clock.advance(5)  # the unknown key id may be looked up again (jwks_min_refetch_seconds)
    assert old.client(token=rotated).call("todo_list").ok
    assert old.client(["todo:read"]).call("todo_list").ok  # and its own key still works
    assert new.client(token=old.token(["todo:read"])).call("todo_list").status_code == 401
