"""Deadlines on PostgreSQL and Redis, proved against the real services through a failing proxy.

`FaultProxy` sits between the client and the real server and passes, refuses, drops or stalls
(accepts and never answers). Every wait here is short; an ``elapsed < bound`` assertion only
proves the call did not hang, it is not a timing measurement.
"""

from __future__ import annotations

import asyncio
import os
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from plughost.core.database import build_engine
from plughost.ops.ratelimit import RateLimiter, RateLimitUnavailable
from plughost.testing import FaultProxy

POSTGRES_URL = os.environ.get(
    "PLUGHOST_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PLUGHOST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HANG_BOUND = 10  # seconds: far above every deadline used here, far below "forever"


# -- the proxy itself, against a local echo server --------------------------------------------


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(4096):
                self.request.sendall(data)
        except ConnectionError:
            pass  # the proxy reset this side: what the tests ask of it


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo_port) as running:
        yield running


def connect(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    sock.settimeout(0.5)
    return sock


def echoes(sock: socket.socket, payload: bytes = b"ping") -> bool:
    """Whether ``payload`` comes back; False if nothing arrives within the socket's timeout."""
    sock.sendall(payload)
    try:
        return sock.recv(4096) == payload
    except TimeoutError:
        return False


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the peer closed or reset the connection (rather than just staying silent)."""
    try:
        sock.sendall(b"anyone?")
        return sock.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def refused(proxy: FaultProxy) -> bool:
    """Whether a new connection is reset (during the handshake already, or just after it)."""
    try:
        sock = connect(proxy)
    except ConnectionResetError:
        return True
    with sock:
        return closed_by_peer(sock)


def test_passes_bytes_both_ways(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        assert echoes(sock)
        assert echoes(sock, b"and back again")


def test_refuse_resets_new_connections_and_keeps_open_ones(proxy: FaultProxy) -> None:
    with connect(proxy) as before:
        assert echoes(before)
        proxy.refuse()
        assert refused(proxy)
        assert echoes(before)
        proxy.pass_through()
        with connect(proxy) as again:
            assert echoes(again)


def test_drop_resets_open_connections_and_refuses_new_ones(proxy: FaultProxy) -> None:
    with connect(proxy) as before:
        assert echoes(before)
        proxy.drop()
        assert closed_by_peer(before)
        assert refused(proxy)


def test_stall_holds_connections_open_and_silent_then_delivers_on_resume(
    proxy: FaultProxy,
) -> None:
    with connect(proxy) as before:
        assert echoes(before)
        proxy.stall()
        with connect(proxy) as during:
            assert not echoes(before, b"held")
            assert not echoes(during, b"held too")
            proxy.pass_through()
            before.settimeout(2)
            during.settimeout(2)
            assert before.recv(4096) == b"held"
            assert during.recv(4096) == b"held too"


def test_stop_closes_every_connection(echo_port: int) -> None:
    running = FaultProxy("127.0.0.1", echo_port).start()
    with connect(running) as sock:
        assert echoes(sock)
        running.stall()
        running.stop()
        assert closed_by_peer(sock)


def test_forwards_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        FaultProxy("10.1.2.3", 5432)


def test_url_for_points_a_service_url_at_the_proxy(proxy: FaultProxy) -> None:
    url = proxy.url_for("postgresql+psycopg://postgres:pw@db.internal:5432/test?sslmode=disable")
    assert url == f"postgresql+psycopg://postgres:pw@127.0.0.1:{proxy.port}/test?sslmode=disable"
    assert proxy.url_for("redis://127.0.0.1:6379/0") == f"redis://127.0.0.1:{proxy.port}/0"


# -- PostgreSQL --------------------------------------------------------------------------------


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def postgres() -> str:
    """The test PostgreSQL server's URL, or a skip saying why it cannot be used."""
    pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg (plughost[postgres])")
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {engine.url!r}: {exc.orig}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgres_proxy(postgres: str) -> Iterator[FaultProxy]:
    from sqlalchemy.engine import make_url

    url = make_url(postgres)
    with FaultProxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


def test_connect_to_a_stalled_postgres_fails_at_the_connect_timeout(
    postgres_proxy: FaultProxy,
) -> None:
    engine = build_engine(postgres_proxy.url_for(POSTGRES_URL), connect_timeout=2)
    postgres_proxy.stall()
    started = time.monotonic()
    with pytest.raises(OperationalError, match="timeout"):
        engine.connect()
    assert time.monotonic() - started < HANG_BOUND
    engine.dispose()


def test_a_dropped_postgres_fails_the_next_statement_at_once(postgres_proxy: FaultProxy) -> None:
    engine = build_engine(postgres_proxy.url_for(POSTGRES_URL), connect_timeout=2)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
        postgres_proxy.drop()
        started = time.monotonic()
        with pytest.raises(OperationalError):
            conn.execute(text("SELECT 1"))
        assert time.monotonic() - started < HANG_BOUND
    engine.dispose()


def test_the_server_cancels_a_statement_at_the_statement_timeout(postgres: str) -> None:
    engine = build_engine(postgres, statement_timeout=0.5)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "500ms"
        started = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < HANG_BOUND
    engine.dispose()


def test_options_in_the_url_are_kept_next_to_the_statement_timeout(postgres: str) -> None:
    engine = build_engine(f"{postgres}?options=-c%20lock_timeout%3D1234", statement_timeout=2)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW lock_timeout")).scalar() == "1234ms"
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "2s"
    engine.dispose()


def test_checkout_from_an_exhausted_pool_fails_at_the_pool_timeout(postgres: str) -> None:
    engine = build_engine(postgres, pool_size=1, pool_timeout=0.5)
    held: list[Connection] = []
    try:
        with pytest.raises(PoolTimeout):
            for _ in range(50):  # pool_size plus SQLAlchemy's overflow, then one more
                started = time.monotonic()
                held.append(engine.connect())
        assert time.monotonic() - started < HANG_BOUND
        assert len(held) >= 1
    finally:
        for conn in held:
            conn.close()
        engine.dispose()


# -- SQLite ------------------------------------------------------------------------------------


def test_sqlite_waits_on_a_locked_database_no_longer_than_the_statement_timeout(
    tmp_path: Path,
) -> None:
    engine: Engine = build_engine(f"sqlite:///{tmp_path / 'locked.db'}", statement_timeout=0.5)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.connect() as writer, engine.connect() as blocked:
        writer.exec_driver_sql("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            blocked.execute(text("INSERT INTO t VALUES (1)"))
        assert time.monotonic() - started < HANG_BOUND
        writer.rollback()
    engine.dispose()


# -- Redis -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The test Redis server's URL, or a skip saying why it cannot be used."""
    redis = pytest.importorskip("redis", reason="Redis tests need redis-py (plughost[redis])")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[FaultProxy]:
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as running:
        yield running


def limiter(storage_url: str, limit: str = "2/minute") -> RateLimiter:
    return RateLimiter(
        default=limit,
        per_plugin={},
        per_tool={},
        storage_url=storage_url,
        key_prefix=f"plughost-test-{uuid.uuid4().hex}",
        tool_owner={},
        storage_timeout=0.5,
        storage_retry=0.2,
    )


async def hit(rate: RateLimiter, subject: str = "ann") -> float | None:
    return await rate.hit(client="app", subject=subject, tool="todo_list")


async def unavailable_within_bound(rate: RateLimiter) -> RateLimitUnavailable:
    started = time.monotonic()
    with pytest.raises(RateLimitUnavailable) as raised:
        await hit(rate)
    assert time.monotonic() - started < HANG_BOUND
    return raised.value


def test_redis_through_the_proxy_counts_the_shared_window(redis_proxy: FaultProxy) -> None:
    async def scenario() -> None:
        rate = limiter(redis_proxy.url_for(REDIS_URL))
        assert await hit(rate) is None
        assert await hit(rate) is None
        wait = await hit(rate)
        assert wait is not None and 1 <= wait <= 60
        assert await hit(rate, subject="bob") is None  # each user of a client has a budget
        assert await rate.healthy()

    asyncio.run(scenario())


def test_a_stalled_redis_is_unavailable_at_the_storage_timeout(redis_proxy: FaultProxy) -> None:
    async def scenario() -> None:
        rate = limiter(redis_proxy.url_for(REDIS_URL))
        assert await hit(rate) is None
        redis_proxy.stall()
        error = await unavailable_within_bound(rate)
        assert "did not answer within 0.5 s" in str(error)
        assert not await rate.healthy()
        redis_proxy.pass_through()
        # The request the client gave up on may still reach Redis now, as on a real network,
        # so count afresh for someone else: the limiter works again once its breaker lets a
        # call try the storage (storage_retry after the failure).
        await asyncio.sleep(0.25)
        assert await hit(rate, subject="bob") is None

    asyncio.run(scenario())


def test_a_dropped_redis_is_unavailable_at_once(redis_proxy: FaultProxy) -> None:
    async def scenario() -> None:
        rate = limiter(redis_proxy.url_for(REDIS_URL))
        assert await hit(rate) is None
        redis_proxy.drop()
        error = await unavailable_within_bound(rate)
        assert error.storage == f"redis://127.0.0.1:{redis_proxy.port}/0"
        assert not await rate.healthy()

    asyncio.run(scenario())


def test_the_unavailable_message_names_the_storage_without_credentials(
    redis_proxy: FaultProxy,
) -> None:
    async def scenario() -> None:
        redis_proxy.refuse()
        url = redis_proxy.url_for("redis://plughost:s3cret@127.0.0.1:6379/0?password=s3cret")
        error = await unavailable_within_bound(limiter(url))
        assert "s3cret" not in str(error) and "plughost:" not in str(error)
        assert f"redis://127.0.0.1:{redis_proxy.port}/0" in str(error)

    asyncio.run(scenario())
