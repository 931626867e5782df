"""The fast path answers exactly as FastMCP's own transport does.

Two hosts with the same plugins, one with the fast path and one without, get the same corpus
of requests: every result shape (rich content blocks too), tool errors, validation errors,
crashes, scope refusals, unknown tools, every protocol version, odd headers, notifications,
large results. Status, content type and the JSON body must be the same on both.
"""

from __future__ import annotations

import itertools
import json

import httpx
import pytest
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

CALLS = [
    ("add", {"a": 1, "b": 2}),
    ("add", {"a": "x", "b": 2}),
    ("add", {"a": 1}),
    ("add", {"a": 1, "b": 2, "c": 3}),
    ("pair", {"a": 4}),
    ("words", {"n": 3}),
    ("words", {"n": 0}),
    ("text", {}),
    ("text", {"n": 200_000}),
    ("rich", {}),
    ("rich", {"kib": 6200}),  # over the 8 MiB default once base64-encoded
    ("nothing", {}),
    ("plain", {}),
    ("missing", {"id": 7}),
    ("refuse", {}),
    ("crash", {}),
    ("escalate", {}),
    ("nope", {}),
]
HEADER_SETS = [
    {"Accept": "application/json, text/event-stream"},
    {"Accept": "application/json"},
    {"Accept": "*/*"},
    {"Accept": "text/event-stream"},
    {"Accept": "text/html"},
]
VERSIONS = [None, *HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS, "1999-01-01"]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, request):
    """Started by hand: the corpus is long, so one pair of hosts serves every case."""
    import sys

    from conftest import TEST_PLUGINS, DistFactory

    from plughost.testing import LiveHost

    site = tmp_path_factory.mktemp("site")
    sys.path.insert(0, str(site))
    DistFactory(site)("acme-diff", TEST_PLUGINS / "fastpath_diff.py", namespace="diff")
    pair = [
        LiveHost(
            data_dir=tmp_path_factory.mktemp(f"fast-{fast}"),
            plugins=["diff"],
            settings={"fast_path": fast, "audit": {"sink": "off"}},
        ).start()
        for fast in (True, False)
    ]
    yield pair
    for host in pair:
        host.stop()
    sys.path.remove(str(site))


@pytest.fixture(scope="module")
def http():
    """One client for the whole corpus: a new one per request (its TLS context) cost ~20 ms."""
    with httpx.Client(timeout=30) as client:
        yield client


def _send(http, host, token, body, headers, version, rid):
    sent = {"Content-Type": "application/json", "Authorization": f"Bearer {token}", **headers}
    sent["X-Request-ID"] = rid  # the same on both, so error texts quoting it match
    if version is not None:
        sent["MCP-Protocol-Version"] = version
    reply = http.post(host.mcp_url, content=json.dumps(body), headers=sent)
    try:
        payload = reply.json() if reply.content else None
    except ValueError:
        payload = reply.text
    return reply.status_code, reply.headers.get("content-type"), payload


def test_every_call_in_every_form_is_answered_alike(hosts, http):
    tokens = [host.token(["diff:use"]) for host in hosts]
    compared = 0
    cases = itertools.product(CALLS, HEADER_SETS, VERSIONS)
    for n, ((name, arguments), headers, version) in enumerate(cases):
        body = {
            "jsonrpc": "2.0",
            "id": n,
            "method": "tools/call",
            "params": {"name": f"diff_{name}", "arguments": arguments},
        }
        rid = f"diff-{n}"
        answers = [
            _send(http, host, token, body, headers, version, rid)
            for host, token in zip(hosts, tokens, strict=True)
        ]
        assert answers[0] == answers[1], (name, arguments, headers, version)
        compared += 1
    assert compared == len(CALLS) * len(HEADER_SETS) * len(VERSIONS)


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": "s", "method": "tools/call", "params": {"name": "diff_add"}},
        {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "diff_add"}},
        {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "tools/call",
            "params": {"name": "diff_add", "arguments": {"a": 1, "b": 1}, "_meta": {"k": 1}},
        },
        {"jsonrpc": "2.0", "id": 10, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 11, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ],
    ids=["no-arguments", "notification", "meta", "list", "ping", "initialized"],
)
def test_other_messages_are_answered_alike(hosts, http, body):
    answers = [
        _send(http, host, host.token(["diff:use"]), body, HEADER_SETS[0], "2025-11-25", "other")
        for host in hosts
    ]
    assert answers[0] == answers[1]


def test_the_fast_path_really_answers(hosts, http, monkeypatch):
    """Without this, the corpus could pass with both hosts on the transport."""
    from plughost.edge.fastpath import FastPath

    answered: list[int] = []
    original = FastPath.respond

    async def counting(self, message, version, result, send):
        answered.append(message.id)
        await original(self, message, version, result, send)

    monkeypatch.setattr(FastPath, "respond", counting)
    body = {"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {"name": "diff_text"}}
    for host in hosts:
        token = host.token(["diff:use"])
        status, _, payload = _send(http, host, token, body, HEADER_SETS[0], None, "x")
        assert status == 200 and payload["result"]["content"][0]["text"] == "xxx"
    assert answered == [77]  # the fast host only
