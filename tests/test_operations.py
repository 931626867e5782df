"""Running Plughost as a service: audit, rate limits, health, metrics, logs, robustness."""

from __future__ import annotations

import json
import signal
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from conftest import simple_plugin
from processes import cli_env, reachable, run_cli, serve

from plughost.testing import McpClient, free_port

SLOW_PLUGIN = """
import time
from plughost import Plugin

plugin = Plugin(scopes={"slow:use": "Use slow tools"})

@plugin.tool(scopes=["slow:use"], timeout=0.5)
def stuck(ctx) -> str:
    "Never finishes in time."
    time.sleep(5)
    return "late"

@plugin.tool(scopes=["slow:use"])
def nap(ctx, seconds: float) -> str:
    "Sleep, then answer."
    time.sleep(seconds)
    return "rested"

@plugin.tool(scopes=["slow:use"])
def crash(ctx) -> str:
    "Fails unexpectedly."
    raise RuntimeError("database password=hunter2 leaked into an exception")

@plugin.on_shutdown
def bye(runtime):
    import os
    marker = os.environ.get("SLOW_SHUTDOWN_MARKER")
    if marker:
        open(marker, "a").write("shutdown\\n")
"""


def audit_lines(path: Path) -> list[dict]:
    deadline = time.monotonic() + 10
    lines: list[dict] = []
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        time.sleep(0.1)
        if lines and len(lines) == len(path.read_text().splitlines()):
            break
    return lines


@pytest.fixture
def audited(plughost_factory, make_dist, tmp_path):
    make_dist("acme-slow", SLOW_PLUGIN, namespace="slow")
    audit_file = tmp_path / "audit.jsonl"
    host = plughost_factory(
        plugins=["todo", "slow"],
        settings={
            "audit": {"sink": "file", "file": str(audit_file), "database": True},
            "rate_limit": {"tools": {"todo_get": "2/minute"}},
        },
        in_process=True,
    )
    return host, audit_file


def test_every_call_and_refusal_is_audited_without_secrets(audited):
    host, audit_file = audited
    token = host.token(["todo:read", "todo:write", "slow:use"], tenant="acme", subject="ann")
    agent = host.client(token=token)
    assert agent.call("todo_create", title="secret plans").ok
    assert agent.call("todo_get", id=999).error["code"] == "not_found"
    assert agent.call("todo_create", title="").result["isError"]
    assert agent.call("slow_crash").error["code"] == "internal_error"
    assert agent.call("todo_get", id=1).ok
    assert agent.call("todo_get", id=1).status_code == 429
    reader = host.client(["todo:read"], subject="bob")
    assert reader.call("todo_delete", id=1).status_code == 403
    assert host.anonymous().call("todo_list").status_code == 401
    assert host.client(token="not-a-token").call("todo_list").status_code == 401
    host.stop()  # flushes the trail

    records = audit_lines(audit_file)
    outcomes = [r["outcome"] for r in records]
    assert outcomes == [
        "ok",
        "tool_error",
        "invalid_input",
        "internal_error",
        "ok",
        "rate_limited",
        "denied",
        "unauthenticated",
        "unauthenticated",
    ]
    first = records[0]
    assert first["subject"] == "ann" and first["tenant"] == "acme"
    assert (first["tool"], first["plugin"], first["plugin_version"]) == (
        "todo_create",
        "todo",
        version("plughost-todo"),
    )
    assert first["required_scopes"] == ["todo:write"]
    assert first["arguments"] == ["title"]
    assert first["latency_ms"] > 0 and first["request_id"]
    assert records[6]["subject"] == "bob" and records[6]["detail"] == "missing todo:write"
    assert records[8]["detail"] == "malformed token"
    raw = audit_file.read_text()
    assert token not in raw and "secret plans" not in raw and "hunter2" not in raw


def test_audit_cli_filters_and_summarises(audited):
    host, audit_file = audited
    agent = host.client(["todo:read", "todo:write"], subject="ann")
    for n in range(3):
        agent.call("todo_create", title=f"t{n}")
    agent.call("todo_get", id=12345)
    host.client(["todo:read"], subject="bob").call("todo_create", title="no")
    host.stop()
    audit_lines(audit_file)
    for source in (
        {"PLUGHOST_AUDIT__SINK": "file", "PLUGHOST_AUDIT__FILE": str(audit_file)},
        {
            "PLUGHOST_DATABASE_URL": host.app.state.plughost.settings.resolved_database_url,
            "PLUGHOST_AUDIT__DATABASE": "true",
            "PLUGHOST_AUDIT__SINK": "off",
        },
    ):
        run_env = cli_env(host.data_dir, **source)
        done = run_cli(run_env, "audit", "--json", "--subject", "bob")
        assert done.returncode == 0, done.stderr
        bob = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(r["tool"], r["outcome"]) for r in bob] == [("todo_create", "denied")]
        done = run_cli(run_env, "audit", "--summary", "--json", "--since", "1h")
        assert done.returncode == 0, done.stderr
        usage = json.loads(done.stdout)
        tools = {row["key"]: row for row in usage["tool"]}
        assert tools["todo_create"]["calls"] == 4
        assert tools["todo_create"]["failures"] == 1
        assert tools["todo_get"]["outcomes"] == {"tool_error": 1}
        text_out = run_cli(run_env, "audit", "--summary").stdout
        assert "per tool" in text_out and "per client" in text_out
        for window in (("--until", "2000-01-01"), ("--since", "2999-01-01T00:00:00+00:00")):
            done = run_cli(run_env, "audit", "--json", *window)
            assert (done.returncode, done.stdout) == (0, ""), window


def test_parallel_calls_against_a_limit_allow_exactly_that_many(plughost_factory):
    host = plughost_factory(
        plugins=["todo"], settings={"rate_limit": {"default": "7/minute"}}, in_process=True
    )
    agent = host.client(["todo:read"])
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: agent.call("todo_list"), range(30)))
    assert sum(r.ok for r in results) == 7
    limited = [r for r in results if r.status_code == 429]
    assert len(limited) == 23
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in limited)
    other_client = host.client(token=host.token(["todo:read"], client_id="another-agent"))
    assert other_client.call("todo_list").ok
    same_client_other_user = host.client(["todo:read"], subject="someone-else")
    assert same_client_other_user.call("todo_list").ok  # a budget per user of each client


def test_budgets_can_be_per_client_as_a_whole(plughost_factory):
    host = plughost_factory(
        plugins=["todo"],
        settings={"rate_limit": {"default": "2/minute", "key": "client"}},
        in_process=True,
    )
    assert [host.client(["todo:read"]).call("todo_list").status_code for _ in range(2)] == [200] * 2
    same_client_other_user = host.client(["todo:read"], subject="someone-else")
    assert same_client_other_user.call("todo_list").status_code == 429


def test_per_tool_and_per_plugin_limits_override_the_default(plughost_factory, make_dist):
    make_dist("acme-alpha", simple_plugin("alpha"))
    host = plughost_factory(
        plugins=["todo", "alpha"],
        settings={
            "rate_limit": {
                "default": None,
                "plugins": {"alpha": "2/minute"},
                "tools": {"todo_get": "1/minute"},
            }
        },
        in_process=True,
    )
    agent = host.client(["todo:read", "alpha:read"])
    assert [agent.call("alpha_echo", text="x").status_code for _ in range(3)] == [200, 200, 429]
    assert [agent.call("todo_get", id=1).status_code for _ in range(2)] == [200, 429]
    assert all(agent.call("todo_list").ok for _ in range(10))
    assert agent.call("alpha_echo", text="x").status_code == 429
    text = host.http.get(f"{host.base_url}/metrics").text
    assert 'plughost_rate_limited_total{tool="alpha_echo"} 2.0' in text
    assert 'plughost_rate_limited_total{tool="todo_get"} 1.0' in text
    assert 'plughost_tool_calls_total{outcome="rate_limited",tool="alpha_echo"} 2.0' in text
    assert 'plughost_tool_call_seconds_count{tool="todo_list"} 10.0' in text


def test_list_requests_have_a_budget_per_caller_of_their_own(plughost_factory, tmp_path):
    audit = {"sink": "file", "file": str(tmp_path / "audit.jsonl")}
    host = plughost_factory(
        plugins=["todo"],
        settings={"rate_limit": {"lists": "3/minute"}, "audit": audit},
        in_process=True,
    )
    agent = host.client(["todo:read"])
    assert agent.request("tools/list").status_code == 200
    assert agent.request("resources/list").status_code == 200  # one budget for every list
    assert agent.request("prompts/list").status_code == 200
    refused = agent.request("tools/list")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.jsonrpc_error["code"] == -32029
    assert refused.jsonrpc_error["data"]["list"] == "tools/list"
    assert agent.call("todo_list").ok  # calls spend another budget
    assert (
        host.client(["todo:read"], subject="someone-else").request("tools/list").status_code == 200
    )
    host.stop()
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["tool"], r["outcome"]) for r in records] == [
        ("list", "tools/list", "rate_limited"),
        ("tool", "todo_list", "ok"),
    ]


@pytest.mark.skipif(not reachable(6379), reason="Redis is not running on 127.0.0.1:6379")
def test_replicas_share_one_budget_through_redis(plughost_factory, tmp_path):
    import uuid

    limit = {
        "rate_limit": {
            "default": "5/minute",
            "storage_url": "redis://127.0.0.1:6379/0",
            "key_prefix": f"plughost-test-{uuid.uuid4().hex}",
        }
    }
    one = plughost_factory(plugins=["todo"], settings=limit, in_process=True)
    two = plughost_factory(plugins=["todo"], settings=limit, in_process=True)
    calls = []
    for n in range(8):
        host = (one, two)[n % 2]
        agent = host.client(token=host.token(["todo:read"], client_id="shared-agent"))
        calls.append(agent.call("todo_list").status_code)
    assert calls.count(200) == 5 and calls.count(429) == 3
    ready = one.http.get(f"{one.base_url}/readyz").json()
    assert ready["checks"]["rate_limit_storage"] is True


def test_health_readiness_and_metrics(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    agent = host.client(["todo:read", "todo:write"])
    agent.call("todo_create", title="count me")
    agent.call("todo_get", id=404)
    host.client(["todo:read"]).call("todo_create", title="nope")
    host.anonymous().call("todo_list")
    assert host.http.get(f"{host.base_url}/healthz").json()["status"] == "ok"
    ready = host.http.get(f"{host.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "checks": {"plugins": True, "signing_keys": True, "database": True},
    }
    text = host.http.get(f"{host.base_url}/metrics").text
    assert 'plughost_tool_calls_total{outcome="ok",tool="todo_create"} 1.0' in text
    assert 'plughost_tool_calls_total{outcome="tool_error",tool="todo_get"} 1.0' in text
    assert 'plughost_tool_calls_total{outcome="denied",tool="todo_create"} 1.0' in text
    assert 'plughost_auth_failures_total{reason="no bearer token"} 1.0' in text
    assert 'plughost_plugins{status="loaded"} 1.0' in text
    assert 'plughost_jwks_fetches_total{result="ok"}' in text
    assert "plughost_tool_call_seconds_bucket" in text


def test_metrics_can_be_protected_or_disabled(plughost_factory):
    guarded = plughost_factory(
        plugins=["todo"], settings={"metrics_token": "scrape-secret"}, in_process=True
    )
    assert guarded.http.get(f"{guarded.base_url}/metrics").status_code == 401
    ok = guarded.http.get(
        f"{guarded.base_url}/metrics", headers={"Authorization": "Bearer scrape-secret"}
    )
    assert ok.status_code == 200 and "plughost_plugins" in ok.text
    off = plughost_factory(plugins=["todo"], settings={"metrics_enabled": False}, in_process=True)
    assert off.http.get(f"{off.base_url}/metrics").status_code == 404


def test_readiness_fails_when_the_database_is_unreachable(plughost_factory):
    host = plughost_factory(
        plugins=["todo"],
        settings={"database_url": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"},
        allow_failures=True,
        in_process=True,
    )
    ready = host.http.get(f"{host.base_url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] is False
    assert host.http.get(f"{host.base_url}/healthz").json()["status"] == "degraded"


def test_timeouts_and_crashes_are_clean_and_do_not_disturb_other_calls(plughost_factory, make_dist):
    make_dist("acme-slow", SLOW_PLUGIN, namespace="slow")
    host = plughost_factory(plugins=["slow", "todo"])
    agent = host.client(["slow:use", "todo:read"])
    with ThreadPoolExecutor(4) as pool:
        stuck = pool.submit(agent.call, "slow_stuck")
        quick = [pool.submit(agent.call, "todo_list") for _ in range(5)]
        assert all(f.result().ok for f in quick)
        timed_out = stuck.result()
    assert timed_out.error["code"] == "timeout"
    assert "0.5s" in timed_out.error["message"]
    crash = agent.call("slow_crash")
    assert crash.error["code"] == "internal_error"
    rid = crash.headers["x-request-id"]
    assert rid in crash.error["message"]
    assert "hunter2" not in json.dumps(crash.body)


def test_request_body_size_is_limited(plughost_factory):
    host = plughost_factory(plugins=["todo"], settings={"max_request_bytes": 2048})
    call = host.client(["todo:write"]).call("todo_create", title="x", notes="y" * 5000)
    assert call.status_code == 413
    assert host.client(["todo:read"]).call("todo_list").data["items"] == []


def test_cors_is_off_by_default_and_allows_configured_origins(plughost_factory):
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    closed = plughost_factory(plugins=["todo"])
    response = httpx.options(closed.mcp_url, headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    opened = plughost_factory(plugins=["todo"], settings={"cors_origins": ["https://app.example"]})
    response = httpx.options(opened.mcp_url, headers=preflight)
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    evil = httpx.options(opened.mcp_url, headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers


def test_network_allow_list_with_trusted_proxies(plughost_factory):
    host = plughost_factory(plugins=["todo"], settings={"allowed_networks": ["10.0.0.0/8"]})
    assert httpx.get(f"{host.base_url}/healthz").status_code == 403
    spoofed = httpx.get(f"{host.base_url}/healthz", headers={"X-Forwarded-For": "10.1.2.3"})
    assert spoofed.status_code == 403  # 127.0.0.1 is not a trusted proxy here
    proxied = plughost_factory(
        plugins=["todo"],
        settings={"allowed_networks": ["10.0.0.0/8"], "trusted_proxies": ["127.0.0.1/32"]},
    )
    ok = httpx.get(
        f"{proxied.base_url}/healthz", headers={"X-Forwarded-For": "203.0.113.9, 10.1.2.3"}
    )
    assert ok.status_code == 200
    outside = httpx.get(f"{proxied.base_url}/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.status_code == 403


# --- a real `plughost serve` process ----------------------------------------------------


def test_no_token_or_secret_reaches_any_log_or_audit_line(tmp_path, make_dist):
    make_dist("acme-slow", SLOW_PLUGIN, namespace="slow")
    audit_file = tmp_path / "audit.jsonl"
    host = serve(
        cli_env(
            tmp_path / "data",
            PYTHONPATH=str(make_dist.root),
            PLUGHOST_AUDIT__SINK="file",
            PLUGHOST_AUDIT__FILE=str(audit_file),
            PLUGHOST_LOG_FORMAT="json",
        )
    )
    url = host.url
    try:
        token = host.token("todo:read todo:write slow:use")
        agent = McpClient(f"{url}/mcp", token)
        assert agent.call("todo_create", title="t").ok
        agent.call("slow_crash")
        httpx.post(f"{url}/mcp", params={"access_token": token}, json={})
        host.client("todo:read").call("todo_delete", id=1)
        secret = json.loads((tmp_path / "data" / "dev-issuer" / "client.json").read_text())
        httpx.post(
            f"{url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(secret["client_id"], "wrong-" + secret["client_secret"]),
        )
    finally:
        out, err = host.stop()
    logs = out + err
    log_lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry.get("traceback") for entry in log_lines), "the operator gets the traceback"
    assert any(entry.get("request_id") for entry in log_lines)
    everything = logs + audit_file.read_text()
    assert token not in everything
    assert token.split(".")[2] not in everything
    assert secret["client_secret"] not in everything


def test_graceful_shutdown_finishes_in_flight_calls_and_runs_hooks(tmp_path, make_dist):
    make_dist("acme-slow", SLOW_PLUGIN, namespace="slow")
    marker = tmp_path / "shutdown.log"
    host = serve(
        cli_env(tmp_path / "data", PYTHONPATH=str(make_dist.root), SLOW_SHUTDOWN_MARKER=str(marker))
    )
    agent = host.client("slow:use")
    result: dict = {}
    caller = threading.Thread(target=lambda: result.update(call=agent.call("slow_nap", seconds=2)))
    caller.start()
    time.sleep(0.5)
    host.proc.send_signal(signal.SIGTERM)
    caller.join(timeout=30)
    host.stop()
    assert result["call"].ok and result["call"].data == {"result": "rested"}
    assert marker.read_text() == "shutdown\n"
    assert host.proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once done


def test_serve_with_tls(tmp_path):
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    trust = ssl.create_default_context(cafile=str(cert_file))
    host = serve(
        cli_env(tmp_path / "data", PLUGHOST_AUTH__PUBLIC_URL="https://127.0.0.1"),
        "--ssl-certfile",
        str(cert_file),
        "--ssl-keyfile",
        str(key_file),
        scheme="https",
        verify=trust,
    )
    try:
        assert httpx.get(f"{host.url}/healthz", verify=trust).json()["status"] == "ok"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{host.url}/healthz")  # not trusted without the certificate
    finally:
        host.stop()


def test_serve_with_several_workers(tmp_path):
    host = serve(cli_env(tmp_path / "data"), "--workers", "2")
    try:
        agent = host.client("todo:read todo:write")
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda n: agent.call("todo_create", title=f"w{n}"), range(20)))
        assert all(c.ok for c in created)
        assert len({c.data["id"] for c in created}) == 20
        metrics = httpx.get(f"{host.url}/metrics").text
        assert 'plughost_tool_calls_total{outcome="ok",tool="todo_create"} 20.0' in metrics
    finally:
        host.stop()
