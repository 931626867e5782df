"""The resource server: real keys, real JWKS over HTTP from 127.0.0.1, real HTTP calls."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import jwt
import pytest
from conftest import ManualClock, StandInIssuer, now
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from plughost.testing import free_port

TENANT_CLAIM = "org_id"
WRITE = "todo:read todo:write"


def oidc_host(plughost_factory, issuer: StandInIssuer, clock=None, **auth):
    port = free_port()
    settings = {
        "auth": {
            "issuer": "oidc",
            "issuer_url": issuer.url,
            "jwks_uri": f"{issuer.url}/keys",
            "public_url": f"http://127.0.0.1:{port}",
            **auth,
        }
    }
    return plughost_factory(
        plugins=["todo"], settings=settings, port=port, clock=clock, in_process=True
    )


def claims_for(host, **overrides):
    claims = {
        "iss": host.settings["auth"].get("issuer_url") or host.base_url,
        "aud": host.mcp_url,
        "sub": "user-1",
        "client_id": "agent-1",
        TENANT_CLAIM: "acme",
        "scope": "todo:read",
        "iat": now(),
        "nbf": now(),
        "exp": now() + 300,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def oidc(plughost_factory, stand_in_issuer):
    return oidc_host(plughost_factory, stand_in_issuer)


def _post(host, headers=None, params=None, content=None):
    return host.http.post(
        host.mcp_url,
        params=params,
        headers={
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            **(headers or {}),
        },
        content=content
        or json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "todo_list", "arguments": {}},
            }
        ),
    )


def _tokens(host, issuer: StandInIssuer) -> dict[str, dict]:
    """Each row: what the client sends, and whether a token was (recognisably) sent."""
    good = claims_for(host)
    valid = issuer.sign(good)
    head, body, sig = valid.split(".")
    public_pem = (
        issuer.keys[issuer.published[-1]]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    outsider = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "no header": {"headers": {}, "sent": False},
        "wrong scheme": {"headers": {"Authorization": f"Basic {valid}"}, "sent": False},
        "garbage": {"headers": {"Authorization": "Bearer not.a.jwt"}, "sent": True},
        "alg none": {
            "headers": {"Authorization": f"Bearer {b64({'alg': 'none', 'typ': 'JWT'})}.{body}."},
            "sent": True,
        },
        "hs256 with the public key": {
            "headers": {
                "Authorization": "Bearer " + _hmac_token(good, public_pem, issuer.published[-1])
            },
            "sent": True,
        },
        "key not in jwks": {
            "headers": {
                "Authorization": "Bearer "
                + jwt.encode(
                    good, outsider, algorithm="RS256", headers={"kid": issuer.published[-1]}
                )
            },
            "sent": True,
        },
        "tampered payload": {
            "headers": {"Authorization": f"Bearer {head}.{b64({**good, 'scope': WRITE})}.{sig}"},
            "sent": True,
        },
        "expired": {"claims": {"exp": now() - 3600, "iat": now() - 7200, "nbf": now() - 7200}},
        "nbf in the future": {"claims": {"nbf": now() + 3600}},
        "wrong issuer": {"claims": {"iss": "https://evil.example"}},
        "wrong audience": {"claims": {"aud": "https://other.example/mcp"}},
        "missing audience": {"claims": {"aud": None}},
        "missing exp": {"claims": {"exp": None}},
        "oversized": {"claims": {"pad": "x" * 10_000}},
        "no tenant": {"claims": {TENANT_CLAIM: None}},
    }


def _hmac_token(claims: dict, secret: bytes, kid: str) -> str:
    import hashlib
    import hmac

    header = b64({"alg": "HS256", "typ": "JWT", "kid": kid})
    payload = b64(claims)
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


ROWS = [
    "no header",
    "wrong scheme",
    "garbage",
    "alg none",
    "hs256 with the public key",
    "key not in jwks",
    "tampered payload",
    "expired",
    "nbf in the future",
    "wrong issuer",
    "wrong audience",
    "missing audience",
    "missing exp",
    "oversized",
    "no tenant",
]


@pytest.mark.parametrize("row", ROWS)
def test_refused_tokens_get_401_with_the_right_challenge(oidc, stand_in_issuer, row):
    spec = _tokens(oidc, stand_in_issuer)[row]
    if "claims" in spec:
        token = stand_in_issuer.sign(claims_for(oidc, **spec["claims"]))
        spec = {"headers": {"Authorization": f"Bearer {token}"}, "sent": True}
    response = _post(oidc, headers=spec["headers"])
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert (
        f'resource_metadata="{oidc.base_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    )
    assert ('error="invalid_token"' in challenge) is spec["sent"]
    token = spec["headers"].get("Authorization", "").partition(" ")[2]
    if token:
        assert token not in response.text and token not in challenge


def test_the_valid_token_of_the_matrix_is_accepted(oidc, stand_in_issuer):
    token = stand_in_issuer.sign(claims_for(oidc))
    response = _post(oidc, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["structuredContent"] == {"items": [], "next_cursor": None}


def test_scheme_is_case_insensitive(oidc, stand_in_issuer):
    token = stand_in_issuer.sign(claims_for(oidc))
    assert _post(oidc, headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_token_in_query_string_is_refused(oidc, stand_in_issuer):
    token = stand_in_issuer.sign(claims_for(oidc))
    response = _post(oidc, params={"access_token": token})
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    both = _post(oidc, headers={"Authorization": f"Bearer {token}"}, params={"access_token": token})
    assert both.status_code == 401


def test_token_in_form_body_is_refused(oidc, stand_in_issuer):
    token = stand_in_issuer.sign(claims_for(oidc))
    response = oidc.http.post(oidc.mcp_url, data={"access_token": token})
    assert response.status_code == 401


def test_read_token_calling_a_write_tool_gets_403_before_the_tool_runs(oidc, stand_in_issuer):
    token = stand_in_issuer.sign(claims_for(oidc, scope="todo:read"))
    call = oidc.client(token=token).call("todo_create", title="should not exist")
    assert call.status_code == 403
    challenge = call.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="todo:read todo:write"' in challenge  # what it has, plus what it needs
    assert "resource_metadata=" in challenge
    assert call.jsonrpc_error["data"]["missing"] == ["todo:write"]
    writer = stand_in_issuer.sign(claims_for(oidc, scope="todo:read todo:write"))
    assert oidc.client(token=writer).call("todo_list").data["items"] == []


@pytest.mark.parametrize(
    "scope_claims",
    [
        {"scope": "todo:read todo:write"},
        {"scp": "todo:read todo:write"},
        {"scp": ["todo:read", "todo:write"]},
        {"scope": None, "scopes": ["todo:read", "todo:write"]},
    ],
    ids=["scope", "scp-string", "scp-list", "scopes-list"],
)
def test_scopes_are_read_from_every_common_claim(oidc, stand_in_issuer, scope_claims):
    token = stand_in_issuer.sign(claims_for(oidc, **scope_claims))
    client = oidc.client(token=token)
    assert set(client.tool_names()) == {
        "todo_create",
        "todo_list",
        "todo_get",
        "todo_update",
        "todo_delete",
    }
    assert client.call("todo_create", title="ok").ok


def test_tools_list_is_filtered_by_scope(oidc, stand_in_issuer):
    def names(scope):
        token = stand_in_issuer.sign(claims_for(oidc, scope=scope))
        return sorted(oidc.client(token=token).tool_names())

    assert names("todo:read") == ["todo_get", "todo_list"]
    assert names("todo:write") == ["todo_create", "todo_delete", "todo_update"]
    assert names("unrelated:scope") == []


def test_list_all_tools_setting_shows_everything(plughost_factory, stand_in_issuer):
    host = oidc_host(plughost_factory, stand_in_issuer, list_all_tools=True)
    token = stand_in_issuer.sign(claims_for(host, scope="todo:read"))
    assert len(host.client(token=token).tool_names()) == 5


def test_key_rotation_is_picked_up(plughost_factory, stand_in_issuer):
    clock = ManualClock()
    host = oidc_host(plughost_factory, stand_in_issuer, clock, jwks_min_refetch_seconds=1)
    assert host.client(token=stand_in_issuer.sign(claims_for(host))).call("todo_list").ok
    old = stand_in_issuer.published[-1]
    new = stand_in_issuer.new_key("ec")
    stand_in_issuer.published = [new]
    clock.advance(1.1)  # past the refetch throttle
    rotated = stand_in_issuer.sign(claims_for(host), kid=new)
    assert host.client(token=rotated).call("todo_list").ok
    retired = stand_in_issuer.sign(claims_for(host), kid=old)
    assert host.client(token=retired).call("todo_list").status_code == 401


def test_jwks_down_with_warm_cache_keeps_working(plughost_factory, stand_in_issuer):
    clock = ManualClock()
    host = oidc_host(plughost_factory, stand_in_issuer, clock, jwks_min_refetch_seconds=1)
    assert host.client(token=stand_in_issuer.sign(claims_for(host))).call("todo_list").ok
    stand_in_issuer.up = False
    clock.advance(1.1)
    unknown = stand_in_issuer.sign(claims_for(host), kid=stand_in_issuer.new_key(publish=False))
    assert host.client(token=unknown).call("todo_list").status_code == 401
    fresh = stand_in_issuer.sign(claims_for(host))  # a token never seen: verified by cached key
    assert host.client(token=fresh).call("todo_list").ok


def test_jwks_down_with_cold_cache_fails_closed(plughost_factory, stand_in_issuer):
    stand_in_issuer.up = False
    clock = ManualClock()
    host = oidc_host(plughost_factory, stand_in_issuer, clock, jwks_min_refetch_seconds=1)
    token = stand_in_issuer.sign(claims_for(host))
    refused = host.client(token=token).call("todo_list")
    assert refused.status_code == 503  # the issuer is down, not the token: keep it, retry
    assert int(refused.headers["retry-after"]) > 0
    assert "www-authenticate" not in refused.headers
    stand_in_issuer.up = True
    clock.advance(1.1)
    assert host.client(token=token).call("todo_list").ok


def test_unknown_kid_burst_fetches_the_jwks_at_most_once_per_interval(
    plughost_factory, stand_in_issuer
):
    host = oidc_host(plughost_factory, stand_in_issuer, jwks_min_refetch_seconds=300)
    before = stand_in_issuer.jwks_hits

    def attempt(_):
        kid = f"unknown-{uuid.uuid4().hex}"
        stand_in_issuer.keys[kid] = stand_in_issuer.keys[stand_in_issuer.published[-1]]
        return host.client(token=stand_in_issuer.sign(claims_for(host), kid=kid)).call("todo_list")

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(40)))
    assert all(r.status_code == 401 for r in results)
    assert stand_in_issuer.jwks_hits - before <= 1


def test_tenants_are_isolated_by_the_verified_claim(oidc, stand_in_issuer):
    def client(tenant):
        token = stand_in_issuer.sign(claims_for(oidc, scope="todo:read todo:write", org_id=tenant))
        return oidc.client(token=token)

    acme, globex = client("acme"), client("globex")
    item = acme.call("todo_create", title="acme plans").data
    assert globex.call("todo_list").data["items"] == []
    assert globex.call("todo_get", id=item["id"]).error["code"] == "not_found"
    assert globex.call("todo_delete", id=item["id"]).error["code"] == "not_found"
    assert acme.call("todo_get", id=item["id"]).data["title"] == "acme plans"


def test_protected_resource_metadata(oidc):
    for path in (
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ):
        doc = oidc.http.get(oidc.base_url + path).json()
        assert doc["resource"] == oidc.mcp_url
        assert doc["authorization_servers"] == [oidc.settings["auth"]["issuer_url"]]
        assert doc["scopes_supported"] == ["plughost:admin", "todo:read", "todo:write"]
        assert doc["bearer_methods_supported"] == ["header"]


def test_oidc_jwks_uri_is_discovered_from_issuer_metadata(plughost_factory, stand_in_issuer):
    stand_in_issuer.metadata = {
        "issuer": stand_in_issuer.url,
        "jwks_uri": f"{stand_in_issuer.url}/keys",
    }
    host = oidc_host(plughost_factory, stand_in_issuer, jwks_uri=None)
    assert host.client(token=stand_in_issuer.sign(claims_for(host))).call("todo_list").ok


def test_scalekit_shaped_tokens(plughost_factory, stand_in_issuer):
    port = free_port()
    env, rid = stand_in_issuer.url, "res_74125"
    host = plughost_factory(
        plugins=["todo"],
        port=port,
        settings={
            "auth": {
                "issuer": "scalekit",
                "scalekit_environment_url": env,
                "scalekit_resource_id": rid,
                "public_url": f"http://127.0.0.1:{port}",
            }
        },
        in_process=True,
    )
    base = {
        "sub": "m2m_client_1",
        "client_id": "m2m_client_1",
        "oid": "org_42",
        "jti": uuid.uuid4().hex,
        "iat": now(),
        "nbf": now(),
        "exp": now() + 300,
    }
    as_env = stand_in_issuer.sign({**base, "iss": env, "aud": [rid], "scopes": ["todo:read"]})
    client = host.client(token=as_env)
    assert client.tool_names() == ["todo_list", "todo_get"]
    as_resource = stand_in_issuer.sign(
        {
            **base,
            "iss": f"{env}/resources/{rid}",
            "aud": [rid, "other"],
            "scope": "todo:read todo:write",
        }
    )
    assert host.client(token=as_resource).call("todo_create", title="from scalekit").ok
    wrong_aud = stand_in_issuer.sign(
        {**base, "iss": env, "aud": ["res_other"], "scopes": ["todo:read"]}
    )
    assert host.client(token=wrong_aud).call("todo_list").status_code == 401
    doc = host.http.get(f"{host.base_url}/.well-known/oauth-protected-resource/mcp").json()
    assert doc["authorization_servers"] == [f"{env}/resources/{rid}"]


def test_scalekit_settings_read_scalekit_variable_names(monkeypatch):
    from plughost.settings import load_settings

    monkeypatch.setenv("PLUGHOST_AUTH__ISSUER", "scalekit")
    monkeypatch.setenv("PLUGHOST_AUTH__PUBLIC_URL", "https://mcp.example.com")
    monkeypatch.setenv("SCALEKIT_ENVIRONMENT_URL", "https://acme.scalekit.dev")
    monkeypatch.setenv("SCALEKIT_RESOURCE_ID", "res_1")
    auth = load_settings().auth
    assert (auth.scalekit_environment_url, auth.scalekit_resource_id) == (
        "https://acme.scalekit.dev",
        "res_1",
    )


def test_symmetric_algorithms_cannot_be_configured():
    from plughost.settings import load_settings
    from plughost.testing import SettingsError

    with pytest.raises(SettingsError, match="PLUGHOST_AUTH__ALGORITHMS"):
        load_settings(auth={"algorithms": ["HS256"]})


# --- the embedded dev issuer -------------------------------------------------------------


@pytest.fixture
def dev(plughost_factory):
    return plughost_factory(plugins=["todo"], in_process=True)


def _token_request(host, data, auth=None):
    return host.http.post(f"{host.base_url}/oauth/token", data=data, auth=auth)


def test_dev_token_endpoint_issues_tokens_the_host_accepts(dev):
    issuer = dev.app.state.plughost_issuer.dev
    response = _token_request(
        dev,
        {"grant_type": "client_credentials", "scope": "todo:read"},
        auth=(issuer.client_id, issuer.client_secret),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "todo:read"
    client = dev.client(token=body["access_token"])
    assert sorted(client.tool_names()) == ["todo_get", "todo_list"]
    assert client.call("todo_create", title="x").status_code == 403


def test_dev_token_endpoint_accepts_client_secret_post_and_resource(dev):
    issuer = dev.app.state.plughost_issuer.dev
    response = _token_request(
        dev,
        {
            "grant_type": "client_credentials",
            "client_id": issuer.client_id,
            "client_secret": issuer.client_secret,
            "resource": dev.mcp_url,
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "todo:read todo:write"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == dev.mcp_url


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, ("wrong", "secret"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "password"}, "good", 400, "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "scope": "todo:read admin:all"},
            "good",
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "resource": "https://elsewhere/mcp"},
            "good",
            400,
            "invalid_target",
        ),
    ],
    ids=["bad-secret", "no-credentials", "bad-grant", "unknown-scope", "foreign-resource"],
)
def test_dev_token_endpoint_refusals(dev, data, auth, status, error):
    issuer = dev.app.state.plughost_issuer.dev
    if auth == "good":
        auth = (issuer.client_id, issuer.client_secret)
    response = _token_request(dev, data, auth=auth)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert issuer.client_secret not in response.text


def test_dev_issuer_metadata_and_jwks(dev):
    meta = dev.http.get(f"{dev.base_url}/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == dev.base_url
    assert meta["token_endpoint"] == f"{dev.base_url}/oauth/token"
    assert meta["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    jwks = dev.http.get(meta["jwks_uri"]).json()
    assert [k["kty"] for k in jwks["keys"]] == ["RSA"]
    assert "d" not in jwks["keys"][0]
    prm = dev.http.get(f"{dev.base_url}/.well-known/oauth-protected-resource/mcp").json()
    assert prm["authorization_servers"] == [dev.base_url]


def test_sdk_client_credentials_flow_discovers_the_dev_issuer(plughost_factory):
    """The official MCP Python SDK: 401 -> metadata -> token endpoint -> call, no token pasted;
    over a real socket, as the SDK's own HTTP client connects."""
    dev = plughost_factory(plugins=["todo"])
    import httpx2
    from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    issuer = dev.app.state.plughost_issuer.dev

    class MemoryStorage:
        def __init__(self):
            self.tokens = self.client = None

        async def get_tokens(self):
            return self.tokens

        async def set_tokens(self, tokens):
            self.tokens = tokens

        async def get_client_info(self):
            return self.client

        async def set_client_info(self, info):
            self.client = info

    async def run():
        storage = MemoryStorage()
        provider = ClientCredentialsOAuthProvider(
            server_url=dev.mcp_url,
            storage=storage,
            client_id=issuer.client_id,
            client_secret=issuer.client_secret,
            scope="todo:read todo:write",
            issuer=dev.base_url,
        )
        async with (
            httpx2.AsyncClient(auth=provider) as http,
            streamable_http_client(dev.mcp_url, http_client=http) as streams,
            ClientSession(streams[0], streams[1]) as session,
        ):
            await session.initialize()
            created = await session.call_tool("todo_create", {"title": "via the SDK"})
            listed = await session.call_tool("todo_list", {})
        return storage, created, listed

    storage, created, listed = asyncio.run(run())
    assert storage.tokens is not None and storage.tokens.access_token
    assert created.structured_content["title"] == "via the SDK"
    assert [i["title"] for i in listed.structured_content["items"]] == ["via the SDK"]


def test_a_tool_can_require_argument_dependent_scopes_with_a_403(plughost_factory, make_dist):
    make_dist(
        "acme-vault",
        """
        from plughost import Plugin, ToolContext

        plugin = Plugin(scopes={"vault:read": "Read entries", "vault:admin": "Read sealed ones"})

        @plugin.tool(scopes=["vault:read"], conditional_scopes={"vault:admin": "sealed entries"})
        def read(ctx: ToolContext, sealed: bool = False) -> str:
            "Read an entry; sealed entries need vault:admin too."
            if sealed:
                ctx.require_scopes("vault:admin", reason="sealed entries need vault:admin")
            return "secret" if sealed else "public"
        """,
        namespace="vault",
    )
    host = plughost_factory(plugins=["vault"], in_process=True)
    reader = host.client(["vault:read"])
    assert reader.call("vault_read").data == {"result": "public"}
    refused = reader.call("vault_read", sealed=True)
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="vault:read vault:admin"' in challenge
    assert refused.missing_scopes == ["vault:admin"]
    assert "secret" not in json.dumps(refused.body)
    assert host.client(["vault:read", "vault:admin"]).call("vault_read", sealed=True).ok


def test_tools_list_is_marked_private_for_caching(dev):
    """The list depends on the token's scopes: a client may cache it, never share it."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    response = dev.http.post(
        dev.mcp_url,
        headers={
            "Authorization": f"Bearer {dev.token(['todo:read'])}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/list",
        },
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}},
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["cacheScope"] == "private"
    assert [t["name"] for t in result["tools"]] == ["todo_list", "todo_get"]


# --- the algorithm each key is for, and the longest lifetime accepted ------------------------


@pytest.mark.parametrize("alg", ["PS256", "RS512"])
@pytest.mark.parametrize("published_alg", [True, False], ids=["jwk-alg", "no-jwk-alg"])
def test_an_rs256_key_signs_rs256_only(
    plughost_factory, stand_in_issuer, monkeypatch, alg, published_alg
):
    if not published_alg:  # the key type's algorithm applies: RSA is RS256
        published = stand_in_issuer.jwks

        def without_alg() -> dict:
            return {
                "keys": [
                    {k: v for k, v in key.items() if k != "alg"} for key in published()["keys"]
                ]
            }

        monkeypatch.setattr(stand_in_issuer, "jwks", without_alg)
    host = oidc_host(plughost_factory, stand_in_issuer)
    other = stand_in_issuer.sign(claims_for(host), alg=alg)
    assert _post(host, {"Authorization": f"Bearer {other}"}).status_code == 401
    own = stand_in_issuer.sign(claims_for(host), alg="RS256")
    assert _post(host, {"Authorization": f"Bearer {own}"}).status_code == 200


def test_a_token_claiming_a_longer_life_than_the_cap_is_refused(oidc, stand_in_issuer):
    ten_years = now() + 10 * 365 * 86_400
    for claims in (claims_for(oidc, exp=ten_years), claims_for(oidc, exp=ten_years, iat=None)):
        token = stand_in_issuer.sign(claims)
        assert _post(oidc, {"Authorization": f"Bearer {token}"}).status_code == 401
    day = stand_in_issuer.sign(claims_for(oidc, exp=now() + 86_000))
    assert _post(oidc, {"Authorization": f"Bearer {day}"}).status_code == 200


def test_the_lifetime_cap_is_a_setting(plughost_factory, stand_in_issuer):
    host = oidc_host(plughost_factory, stand_in_issuer, max_token_lifetime_seconds=600)
    hour = stand_in_issuer.sign(claims_for(host, exp=now() + 3600))
    assert _post(host, {"Authorization": f"Bearer {hour}"}).status_code == 401
    minutes = stand_in_issuer.sign(claims_for(host, exp=now() + 300))
    assert _post(host, {"Authorization": f"Bearer {minutes}"}).status_code == 200
