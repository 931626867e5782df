"""Revocation honoured by the resource server, over real HTTP: a revoked sign-in's access
tokens (and those of a replayed code) are refused at ``/mcp`` and for token exchange, on
every replica sharing the database, within the poll interval; the check costs one query per
interval, not one per request; console sign-out ends the session server-side."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
from test_oauth import new_client

from plughost.testing import McpClient, free_port

AUDIENCE = "https://crm.example/api"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
#: The bound the issue sets: "within seconds". Replicas poll every POLL seconds.
POLL = 0.5
WITHIN = 5.0


@pytest.fixture
def replicas(plughost_factory, tmp_path):
    """Two replicas on one database and one set of dev keys, behind one public URL."""
    shared = tmp_path / "shared"
    first = free_port()
    settings = {
        "auth": {"public_url": f"http://127.0.0.1:{first}", "revocation_poll_seconds": POLL},
        "token_exchange": {
            "enabled": True,
            "plugins": {"todo": {"audiences": [AUDIENCE], "scopes": ["crm:read"]}},
        },
    }
    a = plughost_factory(plugins=["todo"], settings=settings, data_dir=shared, port=first)
    b = plughost_factory(plugins=["todo"], settings=settings, data_dir=shared)
    return a, b


def _refused_within(client: McpClient) -> bool:
    deadline = time.monotonic() + WITHIN
    while time.monotonic() < deadline:
        if client.call("todo_list").status_code == 401:
            return True
        time.sleep(0.1)
    return False


def _revoke(base: str, client_id: str, token: str) -> None:
    response = httpx.post(f"{base}/oauth/revoke", data={"client_id": client_id, "token": token})
    assert response.status_code == 200


def test_a_revoked_sign_ins_access_token_is_refused_on_every_replica(replicas):
    a, b = replicas
    client = new_client(a.base_url)
    tokens = client.tokens("todo:read")
    here, there = (
        McpClient(a.mcp_url, tokens["access_token"]),
        McpClient(b.mcp_url, tokens["access_token"]),
    )
    assert here.call("todo_list").status_code == 200
    assert there.call("todo_list").status_code == 200

    _revoke(a.base_url, client.id, tokens["refresh_token"])
    assert here.call("todo_list").status_code == 401  # the replica that revoked: at once
    assert _refused_within(there)  # the other: within its poll interval


def test_the_access_token_of_a_replayed_code_is_refused(replicas):
    a, b = replicas
    client = new_client(a.base_url)
    code, verifier = client.sign_in("todo:read")
    first = client.exchange(code, verifier)
    assert first.status_code == 200
    stolen = McpClient(b.mcp_url, first.json()["access_token"])
    assert stolen.call("todo_list").status_code == 200
    assert client.exchange(code, verifier).json()["error"] == "invalid_grant"  # the replay
    assert _refused_within(stolen)


def test_a_revoked_token_is_not_exchanged(replicas):
    a, _ = replicas
    dev = a.app.state.plughost_issuer.dev
    client = new_client(a.base_url)
    tokens = client.tokens("todo:read")

    def exchange() -> httpx.Response:
        pair = f"{dev.client_id}:{dev.client_secret}".encode()
        return httpx.post(
            f"{a.base_url}/oauth/token",
            data={
                "grant_type": EXCHANGE,
                "subject_token": tokens["access_token"],
                "subject_token_type": ACCESS_TOKEN,
                "audience": AUDIENCE,
                "scope": "crm:read",
            },
            headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
        )

    assert exchange().status_code == 200
    _revoke(a.base_url, client.id, tokens["access_token"])
    refused = exchange()
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_the_check_costs_one_query_per_interval_not_one_per_request(plughost_factory):
    host = plughost_factory(plugins=["todo"], settings={"auth": {"revocation_poll_seconds": 60}})
    revoked = host.app.state.plughost_issuer.verifier.revocations
    client = McpClient(host.mcp_url, host.token(["todo:read"]))
    assert client.call("todo_list").status_code == 200
    before = revoked.polls
    for _ in range(30):
        assert client.call("todo_list").status_code == 200
    assert revoked.polls == before  # within one interval: no query at all


def test_console_sign_out_ends_the_session_on_every_replica(replicas):
    a, b = replicas
    browser = httpx.Client(follow_redirects=False)
    started = browser.get(f"{a.base_url}/console/signin")
    location = browser.get(started.headers["location"]).headers["location"]
    page = browser.get(location)
    fields = dict(_hidden(page.text))
    done = browser.post(
        f"{a.base_url}/oauth/consent",
        data={**fields, "decision": "allow", "scope": ["plughost:admin"]},
    )
    back = browser.get(done.headers["location"])
    assert back.status_code == 303, back.text
    session = {name: value for name, value in browser.cookies.items()}
    assert browser.get(f"{a.base_url}/console").status_code == 200

    copy = httpx.Client(follow_redirects=False, cookies=session)  # the cookie, kept elsewhere
    assert copy.get(f"{b.base_url}/console").status_code == 200
    out = browser.post(f"{a.base_url}/console/signout", headers={"Origin": a.base_url})
    assert out.status_code == 200
    assert copy.get(f"{a.base_url}/console").status_code == 303  # to sign-in, at once
    deadline = time.monotonic() + WITHIN
    while copy.get(f"{b.base_url}/console").status_code != 303:
        assert time.monotonic() < deadline, "the other replica still opens the session"
        time.sleep(0.1)


def _hidden(page: str) -> list[tuple[str, str]]:
    from test_oauth import HIDDEN

    return HIDDEN.findall(page)
