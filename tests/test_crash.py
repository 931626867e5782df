"""kill -9 in the middle of a burst of writes: nothing acknowledged is lost.

A real ``plughost serve`` takes a bounded burst of concurrent ``todo_create`` calls and is
killed with SIGKILL once some have been answered. Restarted on the same data, every call that
was answered "ok" must have its row; with the audit kept in the database (durable by default)
it must also have its audit record, in the file and in the database.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from processes import cli_env, serve
from sqlalchemy import create_engine, select

from plughost.ops.audit import audit_table
from plughost.testing import ToolCall

BURST = 160
KILL_AFTER = 40  # answered calls before the kill


def _burst_then_kill(served) -> list[ToolCall]:
    """Fire the burst from 16 threads, kill -9 after KILL_AFTER answers; the answered ones."""
    agent = served.client("todo:read todo:write")
    answered: list[ToolCall] = []
    lock = threading.Lock()
    enough = threading.Event()

    def create(n: int) -> None:
        try:
            reply = agent.call("todo_create", title=f"burst {n}")
        except httpx.TransportError:
            return  # in flight when the process died: never acknowledged
        with lock:
            answered.append(reply)
            if len(answered) >= KILL_AFTER:
                enough.set()

    with ThreadPoolExecutor(16) as pool:
        for n in range(BURST):
            pool.submit(create, n)
        assert enough.wait(60), "the burst was not being answered"
        served.proc.kill()
        served.proc.wait(10)
    assert len(answered) < BURST, "the kill came too late to interrupt anything"
    return [reply for reply in answered if reply.ok]


def test_kill_9_loses_no_acknowledged_write(tmp_path):
    env = cli_env(tmp_path / "data", PLUGHOST_AUDIT__SINK="off")
    acknowledged = _burst_then_kill(serve(env))
    assert acknowledged
    again = serve(env)
    try:
        reader = again.client("todo:read")
        for reply in acknowledged:
            item = reader.call("todo_get", id=reply.data["id"])
            assert item.ok and item.data["title"] == reply.data["title"]
    finally:
        again.stop()


def test_kill_9_with_the_database_audit_loses_no_record_of_an_acknowledged_call(tmp_path):
    """No ``PLUGHOST_AUDIT__DURABLE``: keeping the trail in the database makes it durable."""
    audit_file = tmp_path / "audit.jsonl"
    env = cli_env(
        tmp_path / "data",
        PLUGHOST_AUDIT__SINK="file",
        PLUGHOST_AUDIT__FILE=str(audit_file),
        PLUGHOST_AUDIT__DATABASE="true",
    )
    acknowledged = {reply.headers["x-request-id"] for reply in _burst_then_kill(serve(env))}
    assert acknowledged
    in_file = {
        json.loads(line)["request_id"]
        for line in audit_file.read_text().splitlines()
        if line.endswith("}")  # a line cut by the kill is no record
    }
    assert acknowledged <= in_file
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'plughost.db'}")
    with engine.connect() as conn:
        in_database = set(conn.execute(select(audit_table.c.request_id)).scalars())
    engine.dispose()
    assert acknowledged <= in_database
