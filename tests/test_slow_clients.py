"""Slow, idle and too many clients against a real ``plughost serve``, over raw sockets.

A connection that never sends a request, one that sends its request's head a byte at a time
(slowloris), and one left idle after its response are each closed after their deadline
(``PLUGHOST_HTTP__*``, set small here); past the connection cap new requests are answered 503
while the requests under way finish. A closed connection reads as EOF; the socket timeout only
bounds how long a test that fails would wait.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from processes import Served, cli_env, serve

from plughost.testing import McpClient
from plughost.testing.client import PROTOCOL_VERSION

WAIT_BOUND = 8  # seconds: far above every deadline set here, far below "never"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = cli_env(
        tmp_path_factory.mktemp("slow") / "data",
        PLUGHOST_AUDIT__SINK="off",
        PLUGHOST_HTTP__KEEP_ALIVE_SECONDS="0.5",
        PLUGHOST_HTTP__HEADER_TIMEOUT_SECONDS="1",
        PLUGHOST_HTTP__MAX_CONNECTIONS="3",
    )
    host = serve(env)
    try:
        yield host
    finally:
        host.stop()


def _connect(served: Served) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=WAIT_BOUND)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes the connection (EOF or reset) before the wait bound."""
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def _response(sock: socket.socket) -> bytes:
    """One whole response on a keep-alive connection (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_connection_that_never_sends_a_request_is_closed(served):
    with _connect(served) as sock:
        assert _closed_by_server(sock)


def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(served):
    head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    with _connect(served) as sock:
        started = time.monotonic()
        try:
            for byte in head:  # 0.2 s a byte: the head would take 15 s
                sock.send(bytes([byte]))
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert time.monotonic() - started < WAIT_BOUND, "the trickle was never cut off"
        assert _closed_by_server(sock)


def test_a_connection_idle_after_its_response_is_closed(served):
    with _connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _response(sock).startswith(b"HTTP/1.1 200")
        assert _closed_by_server(sock)


def _held_call(served: Served, token: str) -> tuple[socket.socket, bytes]:
    """A tools/list under way: its head and half its body sent, the rest held back.

    The connection first gets an answer to a plain request, so the server has taken it in
    before the next one connects (a backlog of new connections would count them all first).
    """
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    head = (
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\n"
        f"MCP-Protocol-Version: {PROTOCOL_VERSION}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = _connect(served)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert _response(sock).startswith(b"HTTP/1.1 200")
    sock.sendall(head + body[:10])
    return sock, body[10:]


def test_past_the_connection_cap_new_requests_get_503_and_those_under_way_finish(served):
    token = served.token("todo:read")
    # The embedded issuer's keys are fetched over HTTP from this server: before the cap is full.
    assert McpClient(f"{served.url}/mcp", token).list_tools()
    first, rest_of_first = _held_call(served, token)
    second, rest_of_second = _held_call(served, token)
    with first, second, _connect(served) as third:
        third.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _response(third).startswith(b"HTTP/1.1 503")
        for sock, rest in ((first, rest_of_first), (second, rest_of_second)):
            sock.sendall(rest)
            assert _response(sock).startswith(b"HTTP/1.1 200")
