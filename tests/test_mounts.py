"""An existing MCP server mounted under a namespace, over real HTTP end to end.

The upstream is `tests/upstreams/weather.py`, a small FastMCP server run as its own process
(streamable HTTP on a free port, or stdio), mounted as ``weather`` beside the todo plugin. Agents
call ``weather_*`` on the host with host tokens; the host forwards to the upstream as its client.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import cli_env, reachable, run_cli

from plughost.testing import LiveHost, free_port

UPSTREAM = Path(__file__).parent / "upstreams" / "weather.py"
DEADLINE = 3.0
SCOPES = {"weather:read": "Read forecasts", "weather:debug": "See what the host forwards"}
TOOLS = {
    "forecast": ["weather:read"],
    "slow": ["weather:read"],
    "fails": ["weather:read"],
    "remember": ["weather:debug"],
    "last_meta": ["weather:debug"],
}


class Upstream:
    """The weather server as a process on a fixed port, to kill and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(UPSTREAM), "--http", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not reachable(self.port):
            assert time.monotonic() < deadline, "the weather server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    served = Upstream()
    served.start()
    yield served
    served.kill()


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def live(
    upstream: Upstream, audit_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveHost]:
    mount = {
        "url": upstream.url,
        "scopes": SCOPES,
        "tools": TOOLS,
        "timeout_seconds": DEADLINE,
        "refresh_seconds": 60,
    }
    host = LiveHost(
        data_dir=tmp_path_factory.mktemp("mounts"),
        plugins=["todo"],
        settings={
            "mounts": {"weather": mount},
            "audit": {"sink": "file", "file": str(audit_file)},
            "rate_limit": {"tools": {"weather_forecast": "3/minute"}},
        },
    ).start()
    yield host
    host.stop()


def audited(audit_file: Path, **match: Any) -> list[dict[str, Any]]:
    lines = audit_file.read_text().splitlines() if audit_file.exists() else []
    records = [json.loads(line) for line in lines]
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def test_tools_are_listed_by_scope_and_undeclared_ones_never(live: LiveHost):
    reader = live.client(["weather:read", "todo:read"])
    names = reader.tool_names()
    assert {"weather_forecast", "weather_slow", "weather_fails"} <= set(names)
    assert "weather_remember" not in names  # needs weather:debug
    assert not any("admin_reset" in name for name in live.client().tool_names())
    call = live.client().call("weather_admin_reset")
    assert call.jsonrpc_error is not None and "Unknown tool" in call.jsonrpc_error["message"]
    tool = next(t for t in reader.list_tools() if t["name"] == "weather_forecast")
    assert tool["_meta"]["plughost"]["plugin"] == "weather"
    assert tool["_meta"]["plughost"]["version"] == "1.4.2"
    assert tool["inputSchema"]["properties"]["city"]["type"] == "string"


def test_a_call_is_forwarded_with_the_caller_in_meta_and_audited(live: LiveHost, audit_file: Path):
    client = live.client(["weather:read", "weather:debug"], subject="ana", tenant="acme")
    call = client.call("weather_forecast", city="Oslo")
    assert call.ok, call.body
    assert call.data["city"] == "Oslo" and call.data["sky"] == "clear"
    assert client.call("weather_remember").ok
    seen = client.call("weather_last_meta").data["meta"]
    assert seen["plughost/caller"]["subject"] == "ana"
    assert seen["plughost/caller"]["tenant"] == "acme"
    assert seen["plughost/caller"]["scopes"] == ["weather:debug", "weather:read"]
    failed = client.call("weather_fails")
    assert failed.status_code == 200 and failed.result["isError"]
    assert "sensor is offline" in failed.text
    live.host.audit.close()  # flush the file
    live.host.audit.start()
    ok = audited(audit_file, tool="weather_forecast", subject="ana")
    assert ok and ok[-1]["outcome"] == "ok" and ok[-1]["plugin"] == "weather"
    assert ok[-1]["kind"] == "tool"
    assert audited(audit_file, tool="weather_fails")[-1]["outcome"] == "tool_error"


def test_a_token_without_the_scope_gets_a_step_up_challenge(live: LiveHost):
    call = live.client(["todo:read"]).call("weather_forecast", city="Oslo")
    assert call.status_code == 403
    challenge = call.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and "weather:read" in challenge


def test_calls_are_rate_limited(live: LiveHost):
    client = live.client(["weather:read"], subject="limited")
    answers = [client.call("weather_forecast", city="Rome").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]


def test_a_slow_upstream_ends_unavailable_at_its_deadline_and_others_keep_serving(
    live: LiveHost,
):
    client = live.client()
    started = time.monotonic()
    call = client.call("weather_slow", seconds=30)
    took = time.monotonic() - started
    assert call.status_code == 503, call.body
    assert call.headers["retry-after"]
    assert call.jsonrpc_error["data"]["plugin"] == "weather"
    assert took < DEADLINE + 5
    assert client.call("todo_list").ok
    assert client.call("weather_forecast", city="Lima").status_code in (200, 429)


def test_the_upstream_killed_mid_call_is_unavailable_and_serves_again_once_back(
    live: LiveHost, upstream: Upstream, audit_file: Path
):
    client = live.client(subject="killer")
    result: dict[str, Any] = {}

    def slow_call() -> None:
        started = time.monotonic()
        result["call"] = client.call("weather_slow", seconds=20)
        result["took"] = time.monotonic() - started

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.5)
    upstream.kill()
    caller.join(timeout=DEADLINE + 10)
    assert result["call"].status_code == 503
    assert result["took"] < DEADLINE + 5
    # While it is down: its names answer unavailable at once, other plugins still serve.
    assert client.call("weather_forecast", city="Oslo").status_code == 503
    assert client.call("todo_list").ok
    live.host.audit.close()
    live.host.audit.start()
    assert audited(audit_file, tool="weather_slow", subject="killer")[-1]["outcome"] == (
        "unavailable"
    )
    upstream.start()
    deadline = time.monotonic() + 20
    while client.call("weather_slow", seconds=0).status_code != 200:
        assert time.monotonic() < deadline, "the mount did not come back"
        time.sleep(0.2)
    assert live.host.mounts["weather"].state.status == "up"


def test_a_stdio_mount_serves_its_tools(tmp_path: Path):
    mount = {
        "command": [sys.executable, str(UPSTREAM)],
        "scopes": SCOPES,
        "tools": {"forecast": ["weather:read"]},
    }
    host = LiveHost(
        data_dir=tmp_path, plugins=["todo"], settings={"mounts": {"weather": mount}}
    ).start()
    try:
        call = host.client(["weather:read"]).call("weather_forecast", city="Oslo")
        assert call.ok, call.body
        assert call.data["city"] == "Oslo"
        assert host.host.mounts["weather"].state.transport == "stdio"
    finally:
        host.stop()


def test_a_mount_down_at_start_is_reported_and_its_names_unavailable(tmp_path: Path):
    mount = {
        "url": f"http://127.0.0.1:{free_port()}/mcp",
        "scopes": SCOPES,
        "tools": TOOLS,
        "connect_timeout_seconds": 2,
    }
    host = LiveHost(
        data_dir=tmp_path, plugins=["todo"], settings={"mounts": {"weather": mount}}
    ).start()
    try:
        state = host.host.mounts["weather"].state
        assert state.status == "down" and state.error
        call = host.client().call("weather_forecast", city="Oslo")
        assert call.status_code == 503 and call.headers["retry-after"]
        assert host.client().call("todo_list").ok
        health = httpx.get(f"{host.base_url}/healthz", timeout=10).json()
        assert health["mounts"]["weather"]["status"] == "down"
    finally:
        host.stop()


def test_a_client_of_the_upstream_never_sees_the_hosts_token(live: LiveHost):
    client = live.client(["weather:read", "weather:debug"])
    assert client.call("weather_remember").ok
    assert client.call("weather_last_meta").data["authorization"] is None


def test_plughost_plugins_reports_each_mount_without_its_secret(upstream: Upstream, tmp_path: Path):
    settings = {
        "PLUGHOST_MOUNTS__WEATHER__URL": upstream.url,
        "PLUGHOST_MOUNTS__WEATHER__SCOPES": json.dumps(SCOPES),
        "PLUGHOST_MOUNTS__WEATHER__TOOLS": json.dumps({"forecast": ["weather:read"]}),
        "PLUGHOST_MOUNTS__WEATHER__CREDENTIALS__KIND": "static",
        "PLUGHOST_MOUNTS__WEATHER__CREDENTIALS__ENV": "WEATHER_KEY",
        "WEATHER_KEY": "s3cret-value",
        "PLUGHOST_ENABLED_PLUGINS": "todo",
    }
    done = run_cli(cli_env(tmp_path, **settings), "plugins")
    assert done.returncode == 0, done.stderr
    assert f"weather      remote       http {upstream.url}" in done.stdout
    assert "up: weather 1.4.2" in done.stdout
    assert "weather_forecast" in done.stdout
    assert "(skipped) admin_reset: no scopes declared for it" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_a_static_credential_reaches_the_upstream(
    upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WEATHER_KEY", "s3cret-value")
    mount = {
        "url": upstream.url,
        "scopes": SCOPES,
        "tools": TOOLS,
        "credentials": {"kind": "static", "env": "WEATHER_KEY"},
    }
    host = LiveHost(data_dir=tmp_path, plugins=["todo"], settings={"mounts": {"weather": mount}})
    host.start()
    try:
        client = host.client(["weather:debug"])
        assert client.call("weather_remember").ok
        assert client.call("weather_last_meta").data["authorization"] == "Bearer s3cret-value"
    finally:
        host.stop()


def test_the_console_shows_the_mount_and_its_health(live: LiveHost, upstream: Upstream):
    admin = live.token(["plughost:admin"])
    page = httpx.get(
        f"{live.base_url}/console", headers={"Authorization": f"Bearer {admin}"}, timeout=10
    )
    assert page.status_code == 200
    assert "remote: up" in page.text
    assert upstream.url in page.text
    assert "weather_forecast" in page.text
    assert "admin_reset" in page.text and "no scopes declared for it" in page.text
