"""Two host processes behind one (imaginary) load balancer, sharing PostgreSQL and Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text

from plughost.testing import McpClient, free_port

AUDITED_CREATES = (
    "SELECT count(*) FROM plughost_audit WHERE tool = 'todo_create' AND outcome = 'ok'"
)
PG_SERVER = os.environ.get(
    "PLUGHOST_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.skipif(not _reachable(5432), reason="PostgreSQL is not running on 127.0.0.1:5432"),
    pytest.mark.skipif(not _reachable(6379), reason="Redis is not running on 127.0.0.1:6379"),
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


def _replica(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "plughost", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


def test_two_replicas_share_data_and_one_rate_limit(tmp_path, database):
    first, second = free_port(), free_port()
    public = f"http://127.0.0.1:{first}"  # what a load balancer would be; tokens name it
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGHOST_")}
    env.update(
        {
            "PLUGHOST_DATA_DIR": str(tmp_path / "shared-keys"),
            "PLUGHOST_DATABASE_URL": database,
            "PLUGHOST_AUTH__PUBLIC_URL": public,
            "PLUGHOST_RATE_LIMIT__STORAGE_URL": "redis://127.0.0.1:6379/0",
            "PLUGHOST_RATE_LIMIT__KEY_PREFIX": f"scale-{uuid.uuid4().hex}",
            "PLUGHOST_RATE_LIMIT__TOOLS": '{"todo_get": "10/minute"}',
            "PLUGHOST_AUDIT__SINK": "off",
            "PLUGHOST_AUDIT__DATABASE": "true",
        }
    )
    subprocess.run(
        [sys.executable, "-m", "plughost", "check", "--url", public],
        env=env,
        check=True,
        capture_output=True,
    )  # creates the dev keys once, for both
    procs = [_replica(env, first), _replica(env, second)]
    try:
        urls = [f"http://127.0.0.1:{first}", f"http://127.0.0.1:{second}"]
        for url, proc in zip(urls, procs, strict=True):
            _wait(url, proc)
        token = subprocess.run(
            [
                sys.executable,
                "-m",
                "plughost",
                "token",
                "--scope",
                "todo:read todo:write",
                "--url",
                public,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        clients = [McpClient(f"{url}/mcp", token) for url in urls]

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
            rows = conn.execute(text("SELECT count(*) FROM todo_items")).scalar_one()
        engine.dispose()
        assert rows == 40
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.communicate(timeout=60)
    engine = create_engine(database)
    with engine.connect() as conn:
        audited = conn.execute(text(AUDITED_CREATES)).scalar_one()
    engine.dispose()
    assert audited == 40
