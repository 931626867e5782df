"""The auth edge, spec-exact: Origin and Host checks, least-privilege challenges, key rotation
without a window of refused tokens, an issuer outage that does not blame the token, and
capabilities that match what is served. Real HTTP, real keys, a stand-in issuer that rotates
keys and counts fetches."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import ManualClock, StandInIssuer
from test_auth import claims_for, oidc_host

from plughost.auth.jwks import JWKSCache
from plughost.settings import load_settings
from plughost.testing import SettingsError

HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def post(host, token: str | None = None, headers=None, body=LIST) -> httpx.Response:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return host.http.post(host.mcp_url, json=body, headers={**HEADERS, **auth, **(headers or {})})


# -- Origin and Host -----------------------------------------------------------------------


def test_a_foreign_origin_or_host_is_refused_like_dns_rebinding(plughost_factory):
    host = plughost_factory(plugins=["todo"])
    token = host.token(["todo:read"])
    rebound = post(host, token, {"Origin": "http://evil.example", "Host": "evil.example"})
    assert rebound.status_code == 403 and rebound.json()["error"] == "forbidden"
    assert post(host, token, {"Origin": "http://evil.example"}).status_code == 403
    assert post(host, token, {"Host": "evil.example"}).status_code == 403
    assert post(host, token, {"Origin": "http://localhost:6274"}).status_code == 200
    assert post(host, token, {"Origin": host.base_url}).status_code == 200
    probe = httpx.get(f"{host.base_url}/healthz", headers={"Host": "10.1.2.3:8000"})
    assert probe.status_code == 200  # kubelets reach a pod by its address


def test_hosts_and_origins_can_be_added(plughost_factory):
    host = plughost_factory(
        plugins=["todo"],
        settings={"allowed_hosts": ["mcp.internal"], "cors_origins": ["https://app.example"]},
    )
    token = host.token(["todo:read"])
    assert post(host, token, {"Host": "mcp.internal"}).status_code == 200
    allowed = post(host, token, {"Origin": "https://app.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"


# -- least privilege and step-up --------------------------------------------------------------


def test_the_401_asks_for_the_baseline_scopes_only(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    challenge = post(host).headers["www-authenticate"]
    assert 'scope="todo:read"' in challenge
    metadata = host.http.get(f"{host.base_url}/.well-known/oauth-protected-resource/mcp").json()
    assert {"todo:read", "todo:write"} <= set(metadata["scopes_supported"])


def test_a_baseline_scope_must_be_declared(plughost_factory, make_dist):
    source = """
from plughost import Plugin
plugin = Plugin(scopes={"odd:read": "Read"}, baseline_scopes=["odd:admin"])
"""
    make_dist("acme-odd", source, namespace="odd")
    host = plughost_factory(plugins=["todo", "odd"], allow_failures=True, in_process=True)
    record = next(r for r in host.host.report.records if r.namespace == "odd")
    assert record.status == "failed" and "odd:admin" in record.error


def test_the_403_keeps_what_the_token_has(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    refused = host.client(["todo:read"]).call("todo_create", title="x")
    assert refused.status_code == 403
    assert 'scope="todo:read todo:write"' in refused.headers["www-authenticate"]


# -- key rotation, floods, revocation, outages ------------------------------------------------


def test_a_rotated_key_is_accepted_within_the_short_interval(plughost_factory, stand_in_issuer):
    clock = ManualClock()
    host = oidc_host(plughost_factory, stand_in_issuer, clock, jwks_min_refetch_seconds=1)
    assert host.client(token=stand_in_issuer.sign(claims_for(host))).call("todo_list").ok
    new = stand_in_issuer.new_key()  # published now; the host fetched a moment ago
    token = stand_in_issuer.sign(claims_for(host), kid=new)
    waited = 0.0  # asking again and again must not push the next refetch further away
    while not host.client(token=token).call("todo_list").ok:
        assert waited < 1, "a rotated key was refused past the refetch interval"
        clock.advance(0.25)
        waited += 0.25


def test_a_flood_of_made_up_key_ids_costs_one_fetch(plughost_factory, stand_in_issuer):
    host = oidc_host(plughost_factory, stand_in_issuer, jwks_min_refetch_seconds=60)
    assert host.client(token=stand_in_issuer.sign(claims_for(host))).call("todo_list").ok
    before = stand_in_issuer.jwks_hits
    for _ in range(30):
        kid = stand_in_issuer.new_key(publish=False)
        assert (
            host.client(token=stand_in_issuer.sign(claims_for(host), kid=kid))
            .call("todo_list")
            .status_code
            == 401
        )
    assert stand_in_issuer.jwks_hits - before <= 1


def test_tokens_of_another_issuer_never_cause_a_fetch(plughost_factory, stand_in_issuer):
    clock = ManualClock()
    host = oidc_host(plughost_factory, stand_in_issuer, clock, jwks_min_refetch_seconds=1)
    assert host.client(token=stand_in_issuer.sign(claims_for(host))).call("todo_list").ok
    before = stand_in_issuer.jwks_hits
    for _ in range(5):
        kid = stand_in_issuer.new_key(publish=False)
        foreign = stand_in_issuer.sign(claims_for(host, iss="https://evil.example"), kid=kid)
        assert host.client(token=foreign).call("todo_list").status_code == 401
        clock.advance(0.25)  # five of them span the refetch interval
    assert stand_in_issuer.jwks_hits == before


def test_a_withdrawn_key_stops_verifying_tokens_already_seen(plughost_factory, stand_in_issuer):
    clock = ManualClock()
    host = oidc_host(plughost_factory, stand_in_issuer, clock, jwks_min_refetch_seconds=1)
    old = stand_in_issuer.published[-1]
    seen = stand_in_issuer.sign(claims_for(host), kid=old)
    assert host.client(token=seen).call("todo_list").ok
    new = stand_in_issuer.new_key()
    stand_in_issuer.published = [new]  # the compromised key is withdrawn
    clock.advance(1.1)
    fresh = stand_in_issuer.sign(claims_for(host), kid=new)  # its kid makes the host refetch
    assert host.client(token=fresh).call("todo_list").ok
    assert host.client(token=seen).call("todo_list").status_code == 401


def test_failed_fetches_are_counted(plughost_factory, stand_in_issuer):
    host = oidc_host(plughost_factory, stand_in_issuer, jwks_min_refetch_seconds=1)
    stand_in_issuer.up = False
    assert (
        host.client(token=stand_in_issuer.sign(claims_for(host))).call("todo_list").status_code
        == 503
    )
    metrics = host.http.get(f"{host.base_url}/metrics").text
    assert 'plughost_jwks_fetches_total{result="error"} 1.0' in metrics


def test_stale_keys_are_refreshed_in_the_background(stand_in_issuer: StandInIssuer):
    now = [0.0]
    cache = JWKSCache(
        f"{stand_in_issuer.url}/keys",
        refresh_seconds=10,
        min_refetch_seconds=1,
        clock=lambda: now[0],
    )
    kid = stand_in_issuer.published[-1]

    async def scenario() -> None:
        assert await cache.get(kid) is not None and cache.fetch_count == 1
        now[0] = 60.0  # stale
        stand_in_issuer.up = False  # a slow or failing issuer must not hold up the request
        assert await cache.get(kid) is not None
        assert cache.fetch_count == 1  # answered before the refetch even started
        await asyncio.sleep(0.5)
        assert cache.fetch_count == 2 and cache.key_ids == [kid]  # kept on failure

    asyncio.run(scenario())


# -- the transport's own answers ---------------------------------------------------------------


def test_capabilities_match_what_is_served(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"},
        },
    }
    capabilities = post(host, host.token(["todo:read"]), body=init).json()["result"]["capabilities"]
    # todo serves tools, resources, a prompt and completions; nothing changes while serving,
    # nothing is pushed (no subscriptions), and log messages ride a call's own stream.
    assert capabilities == {
        "tools": {"listChanged": False},
        "logging": {},
        "prompts": {"listChanged": False},
        "resources": {"listChanged": False, "subscribe": False},
        "completions": {},
    }


def test_methods_and_protocol_versions_the_server_does_not_speak(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    token = host.token(["todo:read"])
    auth = {"Authorization": f"Bearer {token}"}
    for method in ("GET", "DELETE"):
        reply = host.http.request(method, host.mcp_url, headers={**HEADERS, **auth})
        assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    old = post(host, token, {"MCP-Protocol-Version": "1999-01-01"})
    assert old.status_code == 400
    error = old.json()["error"]
    assert "1999-01-01" in error["message"] and "2025-11-25" in error["data"]["supported"]


# -- public URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://mcp.example.com", True),
        ("http://mcp.example.com", False),
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
    ],
)
def test_real_issuers_need_an_https_public_url(url, ok):
    settings = {
        "auth": {"issuer": "oidc", "issuer_url": "https://id.example.com", "public_url": url}
    }
    if ok:
        load_settings(**settings)
        return
    with pytest.raises(SettingsError, match="https"):
        load_settings(**settings)
    settings["auth"]["tls_terminated_elsewhere"] = True
    load_settings(**settings)
