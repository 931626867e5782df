"""A sick dependency degrades only what needs it: a stalled PostgreSQL or a lost Redis, behind a
`FaultProxy`, against a real host over HTTP. Waits are short; ``elapsed`` bounds only prove that
nothing hung, they measure nothing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import simple_plugin
from processes import reachable
from sqlalchemy import create_engine, text

from plughost.testing import FaultProxy

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HANG_BOUND = 15  # seconds: far above every deadline configured here, far below "forever"

needs_postgres = pytest.mark.skipif(
    not reachable(5432), reason="PostgreSQL is not running on 127.0.0.1:5432"
)
needs_redis = pytest.mark.skipif(not reachable(6379), reason="Redis is not running on 6379")


@pytest.fixture
def database_through_proxy():
    """A fresh PostgreSQL database reached through a proxy the test can stall."""
    name = f"plughost_faults_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    proxy = FaultProxy("127.0.0.1", 5432).start()
    try:
        yield proxy, proxy.url_for(POSTGRES.rsplit("/", 1)[0] + f"/{name}")
    finally:
        proxy.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@needs_postgres
def test_a_stalled_database_fails_its_calls_in_time_and_freezes_nothing_else(
    plughost_factory, make_dist, database_through_proxy
):
    proxy, url = database_through_proxy
    make_dist("acme-echo", simple_plugin("echo"), namespace="echo")
    host = plughost_factory(
        plugins=["todo", "echo"],
        settings={
            "database_url": url,
            "tool_timeout_seconds": 2,
            "readiness_timeout_seconds": 1,
            "database_pool_timeout_seconds": 1,
        },
    )
    agent = host.client(["todo:read", "todo:write", "echo:read"])
    assert agent.call("todo_create", title="before").ok
    proxy.stall()
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        pending_ready = pool.submit(httpx.get, f"{host.base_url}/readyz", timeout=HANG_BOUND)
        stuck = pool.submit(agent.call, "todo_list")
        # While the database hangs, everything that does not need it answers.
        assert httpx.get(f"{host.base_url}/healthz", timeout=2).status_code == 200
        meta = f"{host.base_url}/.well-known/oauth-protected-resource"
        assert httpx.get(meta, timeout=2).status_code == 200
        assert agent.call("echo_echo", text="still here").ok
        ready = pending_ready.result()
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
        error = stuck.result().error
    assert error["code"] == "timeout"
    assert time.monotonic() - started < HANG_BOUND
    proxy.pass_through()


@needs_postgres
def test_a_database_outage_is_answered_unavailable_with_retry_after_and_logged_once(
    plughost_factory, database_through_proxy, tmp_path, caplog
):
    proxy, url = database_through_proxy
    audit = {"sink": "file", "file": str(tmp_path / "audit.jsonl")}
    settings = {"database_url": url, "database_pool_timeout_seconds": 1, "audit": audit}
    host = plughost_factory(plugins=["todo"], settings=settings)
    agent = host.client(["todo:read", "todo:write"])
    assert agent.call("todo_create", title="before").ok
    proxy.drop()
    with caplog.at_level(logging.INFO):
        replies = [agent.call("todo_list") for _ in range(6)]
    for reply in replies:
        assert reply.status_code == 503
        assert reply.headers["retry-after"] == "5"
        assert reply.jsonrpc_error["code"] == -32004
        assert reply.jsonrpc_error["data"]["service"] == "database"
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "database is not answering" in said[0].getMessage()
    assert "todo_list" in said[0].getMessage() and said[0].exc_info is None
    proxy.pass_through()
    assert agent.call("todo_list").ok
    records = _records(host, tmp_path)
    assert [r["outcome"] for r in records] == ["ok", *["unavailable"] * 6, "ok"]
    assert {r["detail"] for r in records[1:-1]} == {"database unavailable"}


@pytest.fixture
def redis_through_proxy():
    proxy = FaultProxy("127.0.0.1", 6379).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def _redis_settings(proxy: FaultProxy, tmp_path, policy: str, retry: float = 0.5) -> dict:
    return {
        "rate_limit": {
            "default": "100/minute",
            "tools": {"todo_create": "100/minute"},
            "storage_url": proxy.url_for("redis://127.0.0.1:6379/0"),
            "key_prefix": f"plughost-faults-{uuid.uuid4().hex}",
            "storage_timeout_seconds": 0.3,
            "on_storage_error": policy,
            "storage_retry_seconds": retry,
        },
        "audit": {"sink": "file", "file": str(tmp_path / "audit.jsonl")},
    }


def _records(host, tmp_path) -> list[dict]:
    host.stop()
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


@needs_redis
def test_redis_gone_mid_burst_fails_open_by_default(
    plughost_factory, redis_through_proxy, tmp_path
):
    host = plughost_factory(
        plugins=["todo"], settings=_redis_settings(redis_through_proxy, tmp_path, "open")
    )
    agent = host.client(["todo:read"])
    assert agent.call("todo_list").ok
    redis_through_proxy.drop()
    with ThreadPoolExecutor(8) as pool:
        burst = list(pool.map(lambda _: agent.call("todo_list"), range(24)))
    assert all(reply.ok for reply in burst)
    redis_through_proxy.stall()
    assert agent.call("todo_list").ok
    metrics = httpx.get(f"{host.base_url}/metrics").text
    assert "plughost_rate_limit_storage_errors_total 25.0" in metrics
    ready = httpx.get(f"{host.base_url}/readyz", timeout=HANG_BOUND).json()
    assert ready["checks"]["rate_limit_storage"] is False
    records = _records(host, tmp_path)
    assert len(records) == 26 and {r["outcome"] for r in records} == {"ok"}
    marked = [r for r in records if "rate limit not checked" in (r["detail"] or "")]
    assert len(marked) == 25


@needs_redis
def test_redis_gone_fails_closed_when_told_for_tools_with_a_limit_of_their_own(
    plughost_factory, redis_through_proxy, tmp_path
):
    host = plughost_factory(
        plugins=["todo"], settings=_redis_settings(redis_through_proxy, tmp_path, "closed")
    )
    agent = host.client(["todo:read", "todo:write"])
    assert agent.call("todo_list").ok
    redis_through_proxy.stall()
    refused = agent.call("todo_create", title="limited on its own")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["content-type"] == "application/json"
    assert refused.jsonrpc_error["code"] == -32004
    # Under the default budget alone, and for lists, the outage is noted, not refused.
    assert agent.call("todo_list").ok
    assert agent.request("tools/list").status_code == 200
    redis_through_proxy.pass_through()
    assert _eventually_ok(agent, "todo_create", title="after")
    records = _records(host, tmp_path)
    outcomes = [(r["tool"], r["outcome"]) for r in records]
    assert outcomes[:3] == [
        ("todo_list", "ok"),
        ("todo_create", "unavailable"),
        ("todo_list", "ok"),
    ]
    assert "rate limit not checked" in records[2]["detail"]
    assert outcomes[-1] == ("todo_create", "ok")
    assert {outcome for _, outcome in outcomes[3:-1]} <= {"unavailable"}


def _eventually_ok(agent, tool: str = "todo_list", attempts: int = 40, **arguments) -> bool:
    """Calls until one succeeds: the breaker lets a trial through after its short cooldown."""
    for _ in range(attempts):
        if agent.call(tool, **arguments).ok:
            return True
        time.sleep(0.1)
    return False


@needs_redis
def test_a_stalled_redis_is_waited_on_once_then_skipped_until_retried(
    plughost_factory, redis_through_proxy, tmp_path
):
    settings = _redis_settings(redis_through_proxy, tmp_path, "open", retry=60)
    host = plughost_factory(plugins=["todo"], settings=settings)
    agent = host.client(["todo:read"])
    assert agent.call("todo_list").ok
    redis_through_proxy.stall()
    assert all(agent.call("todo_list").ok for _ in range(5))
    details = [r["detail"] or "" for r in _records(host, tmp_path)]
    assert "rate limit not checked" not in details[0]
    assert "rate limit not checked: storage unavailable" in details[1]
    assert "not tried" not in details[1]
    assert all("(not tried: it failed moments ago)" in d for d in details[2:])
