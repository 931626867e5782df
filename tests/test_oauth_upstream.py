"""Scalekit and OIDC: clients are sent to the real issuer, and its metadata is also answered here.

A stand-in issuer on 127.0.0.1 serves what Scalekit documents (the environment URL, its
``/keys``, and each resource's authorization-server metadata at
``<env>/.well-known/oauth-authorization-server/resources/<resource id>``) or, for OIDC, an
issuer's OpenID configuration; the host is checked over real HTTP against it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from conftest import StandInIssuer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plughost.auth.upstream_metadata import UpstreamMetadata
from plughost.testing import McpClient, free_port

RESOURCE_ID = "res_plughost_1"


class AuthorizationServerStandIn(StandInIssuer):
    """The conftest's stand-in issuer (keys, signing) plus metadata documents at given paths,
    counting how often each is fetched."""

    documents: dict[str, dict[str, Any]]
    hits: dict[str, int]

    def serve(self, documents: dict[str, dict[str, Any]]) -> AuthorizationServerStandIn:
        self.documents, self.hits = documents, {}

        async def keys(_request: Request) -> JSONResponse:
            return JSONResponse(self.jwks())

        async def document(request: Request) -> JSONResponse:
            path = request.url.path
            self.hits[path] = self.hits.get(path, 0) + 1
            if not self.up:
                return JSONResponse({"error": "down"}, status_code=503)
            return JSONResponse(self.documents[path])

        routes = [Route("/keys", keys), *(Route(path, document) for path in documents)]
        server = uvicorn.Server(
            uvicorn.Config(Starlette(routes=routes), port=self.port, log_level="warning")
        )
        self._server, self._thread = server, threading.Thread(target=server.run, daemon=True)
        self._thread.start()
        while not server.started:
            time.sleep(0.02)
        return self


def scalekit_metadata(env: str) -> dict[str, Any]:
    """The shape of Scalekit's resource-scoped authorization-server metadata."""
    issuer = f"{env}/resources/{RESOURCE_ID}"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{env}/oauth/authorize",
        "token_endpoint": f"{env}/oauth/token",
        "registration_endpoint": f"{env}/resources/{RESOURCE_ID}/register",
        "jwks_uri": f"{env}/keys",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["todo:read", "todo:write"],
    }


@pytest.fixture
def scalekit() -> Iterator[AuthorizationServerStandIn]:
    issuer = AuthorizationServerStandIn()
    issuer.new_key()
    path = f"/.well-known/oauth-authorization-server/resources/{RESOURCE_ID}"
    issuer.serve({path: scalekit_metadata(issuer.url)})
    yield issuer
    issuer.stop()


@pytest.fixture
def scalekit_host(plughost_factory, scalekit):
    port = free_port()
    settings = {
        "auth": {
            "issuer": "scalekit",
            "scalekit_environment_url": scalekit.url,
            "scalekit_resource_id": RESOURCE_ID,
            "public_url": f"http://127.0.0.1:{port}",
        }
    }
    return plughost_factory(plugins=["todo"], settings=settings, port=port)


def test_scalekit_protected_resource_metadata_sends_clients_to_the_resource_issuer(
    scalekit_host, scalekit
):
    prm = httpx.get(f"{scalekit_host.base_url}/.well-known/oauth-protected-resource/mcp").json()
    assert prm["resource"] == scalekit_host.mcp_url
    assert prm["authorization_servers"] == [f"{scalekit.url}/resources/{RESOURCE_ID}"]


def test_scalekit_metadata_is_answered_on_our_origin_fetched_once(scalekit_host, scalekit):
    url = f"{scalekit_host.base_url}/.well-known/oauth-authorization-server"
    first, second = httpx.get(url), httpx.get(url)
    assert first.status_code == second.status_code == 200
    assert first.json() == scalekit_metadata(scalekit.url)
    assert sum(scalekit.hits.values()) == 1  # cached

    scalekit.up = False  # the issuer goes down: the cached document is still served
    assert httpx.get(url).json()["issuer"] == f"{scalekit.url}/resources/{RESOURCE_ID}"


def test_scalekit_tokens_are_verified_against_its_keys(scalekit_host, scalekit):
    now = int(time.time())
    token = scalekit.sign(
        {
            "iss": f"{scalekit.url}/resources/{RESOURCE_ID}",
            "aud": [RESOURCE_ID],
            "sub": "usr_1",
            "oid": "org_1",
            "scope": "todo:read",
            "iat": now,
            "exp": now + 300,
        }
    )
    assert McpClient(scalekit_host.mcp_url, token).call("todo_list").status_code == 200


def test_an_unreachable_issuer_is_a_502_with_retry_after(plughost_factory):
    port = free_port()
    host = plughost_factory(
        plugins=["todo"],
        settings={
            "auth": {
                "issuer": "scalekit",
                "scalekit_environment_url": f"http://127.0.0.1:{free_port()}",
                "scalekit_resource_id": RESOURCE_ID,
                "public_url": f"http://127.0.0.1:{port}",
            }
        },
        port=port,
    )
    response = httpx.get(f"{host.base_url}/.well-known/oauth-authorization-server")
    assert response.status_code == 502
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "temporarily_unavailable"


def test_oidc_metadata_is_the_issuers_own(plughost_factory):
    issuer = AuthorizationServerStandIn()
    issuer.new_key()
    base = f"{issuer.url}/tenant-a"
    document = {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{issuer.url}/keys",
    }
    issuer.serve({"/tenant-a/.well-known/openid-configuration": document})
    try:
        port = free_port()
        settings = {
            "auth": {
                "issuer": "oidc",
                "issuer_url": base,
                "jwks_uri": f"{issuer.url}/keys",
                "public_url": f"http://127.0.0.1:{port}",
                "default_tenant": "t",
            }
        }
        host = plughost_factory(plugins=["todo"], settings=settings, port=port)
        served = httpx.get(f"{host.base_url}/.well-known/oauth-authorization-server")
        assert served.status_code == 200 and served.json() == document
        prm = httpx.get(f"{host.base_url}/.well-known/oauth-protected-resource/mcp").json()
        assert prm["authorization_servers"] == [base]
    finally:
        issuer.stop()


def test_the_metadata_is_refreshed_after_its_ttl_and_kept_when_a_refresh_fails(scalekit):
    """The cache itself, on a clock the test moves: one fetch per TTL, the last good document
    while the issuer is down, and no second attempt within the retry pause."""
    path = f"/.well-known/oauth-authorization-server/resources/{RESOURCE_ID}"
    clock = [1000.0]
    cache = UpstreamMetadata([scalekit.url + path], ttl=60, clock=lambda: clock[0])

    async def fetch_twice() -> list[dict[str, Any]]:
        return [await cache.document(), await cache.document()]

    assert anyio.run(fetch_twice)[0]["issuer"].endswith(RESOURCE_ID)
    assert scalekit.hits[path] == 1
    clock[0] += 61
    anyio.run(fetch_twice)
    assert scalekit.hits[path] == 2

    scalekit.up = False
    clock[0] += 61
    stale = anyio.run(fetch_twice)
    assert stale[0] == stale[1] == scalekit_metadata(scalekit.url)
    assert scalekit.hits[path] == 3  # one failed refresh, then a pause before the next try
