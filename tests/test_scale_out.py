"""Two host processes behind one (imaginary) load balancer, sharing PostgreSQL and Redis."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from conftest import TEST_PLUGINS
from processes import cli_env, reachable, run_cli, serve
from sqlalchemy import create_engine, text
from test_stream_asking import CAN_ELICIT, RawCall, answer, initialize

from plughost.testing import McpClient, free_port

AUDITED_CREATES = (
    "SELECT count(*) FROM plughost_audit WHERE tool = 'todo_create' AND outcome = 'ok'"
)
PG_SERVER = os.environ.get(
    "PLUGHOST_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


pytestmark = [
    pytest.mark.skipif(not reachable(5432), reason="PostgreSQL is not running on 127.0.0.1:5432"),
    pytest.mark.skipif(not reachable(6379), reason="Redis is not running on 127.0.0.1:6379"),
]


@pytest.fixture
def database():
    name = f"plughost_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_two_replicas_share_data_and_one_rate_limit(tmp_path, database):
    first, second = free_port(), free_port()
    public = f"http://127.0.0.1:{first}"  # what a load balancer would be; tokens name it
    env = cli_env(
        tmp_path / "shared-keys",
        PLUGHOST_DATABASE_URL=database,
        PLUGHOST_AUTH__PUBLIC_URL=public,
        PLUGHOST_RATE_LIMIT__STORAGE_URL="redis://127.0.0.1:6379/0",
        PLUGHOST_RATE_LIMIT__KEY_PREFIX=f"scale-{uuid.uuid4().hex}",
        PLUGHOST_RATE_LIMIT__TOOLS='{"todo_get": "10/minute"}',
        PLUGHOST_AUDIT__SINK="off",
        PLUGHOST_AUDIT__DATABASE="true",
    )
    assert run_cli(env, "check", "--url", public).returncode == 0  # dev keys made once, for both
    # As a deploy's migration Job would: PostgreSQL replicas refuse a database that is behind.
    assert run_cli(env, "db", "upgrade").returncode == 0
    replicas = []
    try:
        replicas = [serve(env, port=port, ready="/readyz") for port in (first, second)]
        token = replicas[0].token("todo:read todo:write")
        clients = [McpClient(f"{replica.url}/mcp", token) for replica in replicas]

        def create(n: int) -> int:
            return clients[n % 2].call("todo_create", title=f"item {n}").data["id"]

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, range(40)))
        assert len(set(ids)) == 40
        for n, item_id in enumerate(ids[:5]):
            other = clients[(n + 1) % 2]
            assert other.call("todo_get", id=item_id).data["title"] == f"item {n}"

        statuses = [clients[n % 2].call("todo_get", id=ids[0]).status_code for n in range(12)]
        assert statuses.count(200) == 5 and statuses.count(429) == 7  # 5 already spent above

        engine = create_engine(database)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM todo_tenant_items")).scalar_one()
        engine.dispose()
        assert rows == 40
    finally:
        for replica in replicas:
            replica.proc.terminate()
        for replica in replicas:
            replica.stop()
    engine = create_engine(database)
    with engine.connect() as conn:
        audited = conn.execute(text(AUDITED_CREATES)).scalar_one()
    engine.dispose()
    assert audited == 40


@contextmanager
def two_replicas(tmp_path, database, make_dist, plugin: str, namespace: str):
    """Two replicas serving ``plugin`` on one database and one Redis, their addresses and
    environment (the first's URL is the public one)."""
    make_dist(f"acme-{namespace}", TEST_PLUGINS / plugin, namespace=namespace)
    first, second = free_port(), free_port()
    public = f"http://127.0.0.1:{first}"
    env = cli_env(
        tmp_path / "shared-keys",
        PYTHONPATH=str(make_dist.root),
        PLUGHOST_ENABLED_PLUGINS=namespace,
        PLUGHOST_DATABASE_URL=database,
        PLUGHOST_AUTH__PUBLIC_URL=public,
        PLUGHOST_RATE_LIMIT__STORAGE_URL="redis://127.0.0.1:6379/0",
        PLUGHOST_RATE_LIMIT__KEY_PREFIX=f"scale-{uuid.uuid4().hex}",
        PLUGHOST_AUDIT__SINK="off",
    )
    assert run_cli(env, "check", "--url", public).returncode == 0
    assert run_cli(env, "db", "upgrade").returncode == 0
    replicas = []
    try:
        replicas = [serve(env, port=port, ready="/readyz") for port in (first, second)]
        yield replicas, env, public
    finally:
        for replica in replicas:
            replica.proc.terminate()
        for replica in replicas:
            replica.stop()


def test_a_question_asked_on_one_replica_is_answered_through_the_other(
    tmp_path, database, make_dist
):
    """A 2025-11-25 client initializes on one replica, its call asks on the other, and its
    answer lands on the first: Redis routes it to the waiting call; another caller's answer
    to the same question is refused on the replica that receives it."""
    with two_replicas(tmp_path, database, make_dist, "elicitation_ship.py", "ship") as cluster:
        replicas, env, public = cluster
        a, b = (f"{replica.url}/mcp" for replica in replicas)
        token = replicas[0].token("ship:go")
        initialize(b, token, CAN_ELICIT)
        call = RawCall(a, token, "ship_ship", {"target": "venus"})
        question = call.wait_for_question()
        assert question["params"]["message"] == "Ship to venus?"
        done = run_cli(env, "token", "--scope", "ship:go", "--subject", "mallory", "--url", public)
        stranger = done.stdout.strip()
        yes = {"action": "accept", "content": {}}
        assert answer(b, stranger, question["id"], yes).status_code == 404
        assert answer(b, token, question["id"], yes).status_code == 202
        assert call.result()["content"][0]["text"] == "shipped to venus"


def test_a_sampling_request_sent_by_one_replica_is_answered_through_the_other(
    tmp_path, database, make_dist
):
    """A tool's ``sampling/createMessage`` rides the same routed answers as a question: the
    client declared sampling on one replica, its call samples on the other, and its model's
    reply lands on the first."""
    with two_replicas(tmp_path, database, make_dist, "sampling_muse.py", "muse") as cluster:
        replicas = cluster[0]
        a, b = (f"{replica.url}/mcp" for replica in replicas)
        token = replicas[0].token("muse:write")
        initialize(b, token, {"sampling": {}})
        call = RawCall(a, token, "muse_haiku", {"topic": "tides"})
        request = call.wait_for_question()
        assert request["method"] == "sampling/createMessage"
        reply = {
            "role": "assistant",
            "content": {"type": "text", "text": "the sea returns"},
            "model": "test-model",
        }
        assert answer(b, token, request["id"], reply).status_code == 202
        assert call.result()["content"][0]["text"] == "poem: the sea returns"
