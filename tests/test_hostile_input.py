"""A caller sending garbage degrades only itself: every refusal is a clean JSON-RPC error,
audited once, rate limited like any call, and leaves the host's metrics and audit trail bounded.
"""

from __future__ import annotations

import json
from datetime import datetime

import httpx
from sqlalchemy import create_engine, func, select

from plughost.core import migrations
from plughost.ops.audit import AuditRecord, AuditTrail, Outcome, audit_table
from plughost.testing import McpClient

HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


def post(host, token: str, body: bytes | str) -> httpx.Response:
    return httpx.post(
        host.mcp_url,
        content=body,
        headers={**HEADERS, "Authorization": f"Bearer {token}"},
        timeout=30,
    )


def audited(host, audit_file) -> list[dict]:
    host.stop()  # flushes the trail
    return [json.loads(line) for line in audit_file.read_text().splitlines()]


def audit_settings(tmp_path, **extra):
    return {"audit": {"sink": "file", "file": str(tmp_path / "audit.jsonl"), **extra}}


def test_deeply_nested_json_is_a_clean_jsonrpc_error(plughost_factory, tmp_path):
    host = plughost_factory(plugins=["todo"], settings=audit_settings(tmp_path))
    token = host.token(["todo:write"])
    nested = "[" * 1000 + "]" * 1000
    body = (
        '{"jsonrpc":"2.0","id":7,"method":"tools/call",'
        f'"params":{{"name":"todo_create","arguments":{{"title":{nested}}}}}}}'
    )
    reply = post(host, token, body)
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"]["code"] == -32600
    assert "nested deeper" in reply.json()["error"]["message"]
    assert McpClient(host.mcp_url, token).call("todo_create", title="still fine").ok
    records = audited(host, tmp_path / "audit.jsonl")
    assert [r["outcome"] for r in records] == ["bad_request", "ok"]


def test_batches_and_non_json_are_refused_with_the_right_codes(plughost_factory):
    host = plughost_factory(plugins=["todo"])
    token = host.token(["todo:read"])
    batch = post(host, token, json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]))
    assert batch.status_code == 400 and batch.json()["error"]["code"] == -32600
    garbage = post(host, token, b"{not json")
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == -32700


def test_malformed_messages_get_errors_that_name_the_problem(plughost_factory):
    host = plughost_factory(plugins=["todo"])
    token = host.token(["todo:read"])
    cases = {
        '{"jsonrpc":"2.0","id":1}': (-32600, "method"),
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":"x"}': (-32602, "params"),
        '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"todo_list",'
        '"arguments":[1]}}': (-32602, "arguments"),
        '{"jsonrpc":"2.0","id":1e999,"method":"tools/list"}': (-32600, "id"),
        '{"id":4,"method":"tools/list"}': (-32600, "jsonrpc"),
        '{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"_meta":"x"}}': (-32602, "_meta"),
    }
    for body, (code, named) in cases.items():
        reply = post(host, token, body)
        assert reply.status_code == 400, body
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["error"]["code"] == code and named in reply.json()["error"]["message"]
    wrong_type = httpx.post(
        host.mcp_url,
        content=b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
        headers={**HEADERS, "Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
    )
    assert wrong_type.status_code == 415 and wrong_type.json()["error"]["code"] == -32600


def test_unknown_tools_are_refused_audited_limited_and_never_become_metric_labels(
    plughost_factory, tmp_path
):
    host = plughost_factory(
        plugins=["todo"],
        settings={**audit_settings(tmp_path), "rate_limit": {"default": "40/minute"}},
    )
    agent = host.client(["todo:read"])
    names = [f"probe_{n}_{'x' * 40}" for n in range(50)]
    replies = [agent.call(name) for name in names]
    refused = [r for r in replies if r.status_code == 200]
    assert len(refused) == 40
    assert {r.jsonrpc_error["code"] for r in refused} == {-32602}
    assert refused[0].jsonrpc_error["message"].startswith("Unknown tool")
    assert {r.status_code for r in replies[40:]} == {429}
    metrics = httpx.get(f"{host.base_url}/metrics").text
    assert "probe_" not in metrics
    assert 'plughost_tool_calls_total{outcome="unknown_tool",tool="(unregistered)"} 40.0' in metrics
    records = audited(host, tmp_path / "audit.jsonl")
    assert [r["outcome"] for r in records] == ["unknown_tool"] * 40 + ["rate_limited"] * 10


def test_a_long_tool_name_is_bounded_in_the_database_audit(plughost_factory, tmp_path):
    host = plughost_factory(plugins=["todo"], settings={"audit": {"sink": "off", "database": True}})
    agent = host.client(["todo:read", "todo:write"])
    name = "x" * 300 + "\x00\udcff"  # NUL and a lone surrogate: no column takes either
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}}
    assert post(host, agent.token, json.dumps(call)).json()["error"]["code"] == -32602
    assert agent.call("todo_create", title="kept").ok
    url = host.host.settings.resolved_database_url
    host.stop()
    with create_engine(url).connect() as conn:
        rows = conn.execute(select(audit_table.c.tool, audit_table.c.outcome)).all()
    assert [outcome for _, outcome in rows] == ["unknown_tool", "ok"]
    assert len(rows[0].tool) <= 64 and "\x00" not in rows[0].tool


def test_one_unstorable_record_never_costs_the_others(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrations.upgrade(engine, migrations.host_track("test"))
    trail = AuditTrail(engine=engine)
    trail.start()
    good = {"outcome": Outcome.OK, "tool": "todo_list"}
    trail.record(AuditRecord(**good, subject="first"))
    trail.record(AuditRecord(**good, subject="naive", time=datetime.now()))
    trail.record(AuditRecord(**good, subject="last"))
    trail.close()
    with engine.connect() as conn:
        kept = conn.execute(select(audit_table.c.subject).order_by(audit_table.c.id)).scalars()
        assert list(kept) == ["first", "last"]
        assert conn.execute(select(func.count()).select_from(audit_table)).scalar() == 2


def test_validation_errors_name_the_public_tool_and_each_field(plughost_factory):
    host = plughost_factory(plugins=["todo"])
    reply = host.client(["todo:read"]).call("todo_get", id="seven")
    error = reply.error
    assert error["code"] == "invalid_input"
    assert error["details"]["tool"] == "todo_get"
    assert [e["field"] for e in error["details"]["errors"]] == ["id"]
    assert "todo_get" in error["message"] and "call[" not in error["message"]
    assert "seven" not in json.dumps(error)  # values sent are never echoed


def test_calls_to_a_plugin_that_failed_to_load_say_so(plughost_factory, make_dist, tmp_path):
    make_dist("acme-boom", "raise KeyError('BOOM_PAGER_URL')\n", namespace="boom")
    host = plughost_factory(
        plugins=["todo", "boom"], settings=audit_settings(tmp_path), allow_failures=True
    )
    reply = host.client(["todo:read"]).call("boom_hello")
    assert reply.status_code == 200
    assert reply.jsonrpc_error["code"] == -32602
    assert reply.jsonrpc_error["data"]["reason"] == "plugin not loaded"
    assert reply.jsonrpc_error["data"]["plugin"] == "boom"
    (record,) = audited(host, tmp_path / "audit.jsonl")
    assert (record["outcome"], record["plugin"]) == ("plugin_not_loaded", "boom")


def test_a_failure_in_the_hosts_own_layers_is_a_jsonrpc_error(plughost_factory, tmp_path):
    host = plughost_factory(plugins=["todo"], settings=audit_settings(tmp_path))

    async def broken(*args, **kwargs):
        raise RuntimeError("rate-limit bookkeeping exploded")

    host.host.limiter.hit = broken
    reply = host.client(["todo:read"]).call("todo_list")
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "application/json"
    error = reply.jsonrpc_error
    assert error["code"] == -32603 and error["data"]["request_id"] == reply.headers["x-request-id"]
    assert "exploded" not in reply.text and "Traceback" not in reply.text
    (record,) = audited(host, tmp_path / "audit.jsonl")
    assert (record["tool"], record["outcome"]) == ("todo_list", "internal_error")


def test_many_users_of_one_client_do_not_share_a_budget_by_default(plughost_factory):
    host = plughost_factory(plugins=["todo"], settings={"rate_limit": {"default": "3/minute"}})

    def agent(subject: str) -> McpClient:
        return McpClient(host.mcp_url, host.token(["todo:read"], subject=subject, client_id="bot"))

    ann, bob = agent("ann"), agent("bob")
    assert [ann.call("todo_list").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert bob.call("todo_list").status_code == 200
