"""On-behalf-of tokens for plugins (RFC 8693 token exchange), over real HTTP.

An ``obo`` plugin's tool asks ``ctx.token_for`` for a token meant for a downstream API and
calls that API, a small Starlette app here that verifies the token against the dev issuer's
JWKS and its own audience, as a real internal service would. The exchange itself is the host
talking to its embedded issuer's token endpoint over HTTP; the issuer's side of the protocol is
also tested directly, refusals first. Requests at the token endpoint are counted from the
host's one log line per request.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plughost.testing import FaultProxy, free_port

AUDIENCE = "https://crm-api.internal"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"

OBO = """
import httpx

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"obo:use": "Call the CRM API as the caller"})


@plugin.tool(scopes=["obo:use"], read_only=True)
async def contacts(ctx: ToolContext, api: str, audience: str, scopes: list[str]) -> dict:
    "Call the downstream API as the caller."
    token = await ctx.token_for(audience=audience, scopes=scopes)
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(api, headers=token.headers())
    return {
        "status": answer.status_code,
        "seen": answer.json(),
        "granted": list(token.scopes),
        "shown": repr(token) + str(token.model_dump(mode="json")),
    }


@plugin.tool(scopes=["obo:use"], read_only=True)
async def token_info(ctx: ToolContext, audience: str, scopes: list[str]) -> dict:
    "What the host got, without calling anything."
    token = await ctx.token_for(audience=audience, scopes=scopes)
    return {"granted": list(token.scopes), "expires": token.expires_at is not None}


@plugin.tool(scopes=["obo:use"], read_only=True)
def ping(ctx: ToolContext) -> str:
    "Needs no downstream token."
    return "pong"
"""


@dataclass
class Downstream:
    """An internal API that accepts only tokens the dev issuer signed for its audience."""

    issuer: str = ""
    port: int = field(default_factory=free_port)
    tokens: list[str] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/contacts"

    async def contacts(self, request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return JSONResponse({"error": "no token"}, status_code=401)
        self.tokens.append(token)
        async with httpx.AsyncClient() as http:
            keys = (await http.get(f"{self.issuer}/oauth/jwks.json")).json()
        kid = jwt.get_unverified_header(token)["kid"]
        (key,) = [jwt.PyJWK(k) for k in keys["keys"] if k["kid"] == kid]
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=self.issuer
            )
        except jwt.PyJWTError as exc:
            return JSONResponse({"error": type(exc).__name__}, status_code=401)
        keep = ("sub", "act", "aud", "scope", "oid", "client_id", "exp")
        return JSONResponse({k: claims.get(k) for k in keep})

    def start(self) -> Downstream:
        app = Starlette(routes=[Route("/contacts", self.contacts)])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(timeout=10)


@pytest.fixture
def downstream() -> Iterator[Downstream]:
    api = Downstream().start()
    yield api
    api.stop()


def exchange_settings(enabled: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "token_exchange": {
            "enabled": enabled,
            "timeout_seconds": 1,
            "plugins": {"obo": {"audiences": [AUDIENCE], "scopes": ["contacts:read"]}},
            **extra,
        }
    }


@pytest.fixture
def start(plughost_factory, make_dist, downstream, caplog):
    """Start a host with the ``obo`` plugin (and its downstream API pointed at it)."""
    make_dist("acme-obo", OBO, namespace="obo")
    caplog.set_level(logging.INFO)

    def started(*, in_process: bool = False, **settings: Any):
        """The host calls its own token endpoint, and the downstream API its keys, over HTTP:
        a real socket, unless the test posts to the token endpoint itself (``in_process``)."""
        settings = settings or exchange_settings()
        host = plughost_factory(plugins=["obo"], settings=settings, in_process=in_process)
        downstream.issuer = host.base_url
        return host

    return started


def call(client, downstream, *, audience: str = AUDIENCE, scopes=("contacts:read",)):
    return client.call("obo_contacts", api=downstream.url, audience=audience, scopes=list(scopes))


def exchanges(caplog) -> int:
    """Requests the token endpoint answered, from the host's one log line per request."""
    return sum(
        r.name == "plughost.http" and r.getMessage().startswith("POST /oauth/token ")
        for r in caplog.records
    )


# --- the plugin's view ---------------------------------------------------------------------


def test_a_tool_calls_a_downstream_api_as_the_caller(start, downstream):
    host = start()
    client = host.client(["obo:use"], subject="ada", tenant="acme")
    answer = call(client, downstream)
    assert answer.ok, answer.body
    data = answer.data
    assert data["status"] == 200
    seen = data["seen"]
    assert seen["sub"] == "ada" and seen["oid"] == "acme"
    assert seen["aud"] == AUDIENCE and seen["scope"] == "contacts:read"
    issuer = host.app.state.plughost_issuer
    assert seen["act"] == {"sub": issuer.dev.client_id}
    assert data["granted"] == ["contacts:read"]
    (token,) = downstream.tokens
    assert token not in data["shown"] and "**********" in data["shown"]
    assert token != client.token


def test_the_downstream_token_lives_no_longer_than_the_callers(start, downstream):
    host = start()
    subject_token = host.token(["obo:use"], ttl=90)
    answer = call(host.client(token=subject_token), downstream)
    assert answer.ok, answer.body
    subject_exp = jwt.decode(subject_token, options={"verify_signature": False})["exp"]
    assert answer.data["seen"]["exp"] <= subject_exp


def test_one_exchange_serves_a_callers_repeated_calls_and_each_caller_has_its_own(
    start, downstream, caplog
):
    host = start()
    ada, bob = (host.client(["obo:use"], subject=s) for s in ("ada", "bob"))
    assert call(ada, downstream).ok and call(ada, downstream).ok
    assert exchanges(caplog) == 1
    assert downstream.tokens[0] == downstream.tokens[1]
    assert call(bob, downstream).ok
    assert exchanges(caplog) == 2
    assert downstream.tokens[2] != downstream.tokens[0]
    assert [call(bob, downstream).data["seen"]["sub"] for _ in range(2)] == ["bob", "bob"]
    assert exchanges(caplog) == 2


def test_concurrent_identical_requests_share_one_exchange(
    plughost_factory, make_dist, downstream, caplog
):
    make_dist("acme-obo", OBO, namespace="obo")
    caplog.set_level(logging.INFO)
    port = free_port()
    with FaultProxy("127.0.0.1", port) as proxy:
        endpoint = proxy.url_for(f"http://127.0.0.1:{port}/oauth/token")
        settings = exchange_settings(timeout_seconds=10, token_endpoint=endpoint)
        host = plughost_factory(plugins=["obo"], settings=settings, port=port)
        downstream.issuer = host.base_url
        client = host.client(["obo:use"])
        proxy.stall()
        answers: list[Any] = []
        callers = [
            threading.Thread(target=lambda: answers.append(call(client, downstream)))
            for _ in range(3)
        ]
        for caller in callers:
            caller.start()
        time.sleep(0.5)  # let all three reach the exchange held up at the proxy
        proxy.pass_through()
        for caller in callers:
            caller.join(timeout=30)
    assert [a.ok for a in answers] == [True, True, True]
    assert exchanges(caplog) == 1
    assert len(set(downstream.tokens)) == 1


# --- refusals before any request to the issuer ----------------------------------------------


@pytest.mark.parametrize(
    ("audience", "scopes", "named"),
    [
        ("https://payroll.internal", ["contacts:read"], "https://payroll.internal"),
        (AUDIENCE, ["contacts:read", "contacts:delete"], "contacts:delete"),
    ],
    ids=["audience", "scope"],
)
def test_what_the_operator_did_not_allow_the_plugin_is_refused_locally(
    start, downstream, caplog, audience, scopes, named
):
    host = start()
    answer = call(host.client(["obo:use"]), downstream, audience=audience, scopes=scopes)
    assert answer.error["code"] == "token_exchange_refused"
    assert named in answer.error["message"]
    assert "PLUGHOST_TOKEN_EXCHANGE__PLUGINS__OBO__" in answer.error["message"]
    assert exchanges(caplog) == 0 and downstream.tokens == []


def test_exchange_switched_off_or_not_granted_to_the_plugin_is_refused(start, downstream, caplog):
    off = start(**exchange_settings(enabled=False))
    answer = call(off.client(["obo:use"]), downstream)
    assert answer.error["code"] == "token_exchange_refused"
    assert "PLUGHOST_TOKEN_EXCHANGE__ENABLED" in answer.error["message"]
    ungranted = start(**exchange_settings(plugins={"crm": {"audiences": [AUDIENCE]}}))
    answer = call(ungranted.client(["obo:use"]), downstream)
    assert answer.error["code"] == "token_exchange_refused"
    assert "plugin obo may not get tokens" in answer.error["message"]
    assert exchanges(caplog) == 0


# --- refusals by the issuer, and an issuer that is down -------------------------------------


def test_the_issuers_refusal_names_its_error_code(start, downstream, caplog):
    host = start(**exchange_settings(client_secret="not-the-dev-clients-secret"))
    answer = call(host.client(["obo:use"]), downstream)
    assert answer.error["code"] == "token_exchange_denied"
    assert answer.error["details"]["issuer_error"] == "invalid_client"
    assert "invalid_client" in answer.error["message"]
    assert "not-the-dev-clients-secret" not in caplog.text
    assert exchanges(caplog) == 1 and downstream.tokens == []


@pytest.mark.parametrize("fault", ["stall", "drop"])
def test_an_issuer_down_or_silent_fails_only_the_calling_tool(
    plughost_factory, make_dist, downstream, fault
):
    make_dist("acme-obo", OBO, namespace="obo")
    port = free_port()
    with FaultProxy("127.0.0.1", port) as proxy:
        endpoint = proxy.url_for(f"http://127.0.0.1:{port}/oauth/token")
        settings = exchange_settings(timeout_seconds=0.5, token_endpoint=endpoint)
        host = plughost_factory(plugins=["obo"], settings=settings, port=port)
        downstream.issuer = host.base_url
        client = host.client(["obo:use"])
        getattr(proxy, fault)()
        answer = call(client, downstream)
        assert answer.error["code"] == "token_exchange_unavailable"
        assert "try again later" in answer.error["message"]
        assert client.call("obo_ping").data == {"result": "pong"}
        proxy.pass_through()
        assert call(client, downstream).ok


def test_no_token_reaches_a_log_or_the_audit_trail(start, downstream, caplog, tmp_path, capfd):
    trail = tmp_path / "audit.jsonl"
    settings = exchange_settings()
    settings["audit"] = {"sink": "file", "file": str(trail), "database": True}
    host = start(**settings)
    client = host.client(["obo:use"])
    assert call(client, downstream).ok
    assert call(client, downstream, scopes=["contacts:delete"]).error
    engine = host.host.engine
    host.stop()
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM plughost_audit"))]
    assert len(rows) == 2
    captured = capfd.readouterr()
    everything = "\n".join(
        [caplog.text, trail.read_text(), json.dumps(rows, default=str), captured.out, captured.err]
    )
    (downstream_token,) = downstream.tokens
    for secret in (client.token, downstream_token):
        assert secret not in everything
        assert secret.split(".")[2] not in everything  # not even the signature alone


# --- an issuer of another make: discovery, the request's fields, client authentication -------


@dataclass
class ForeignTokenEndpoint:
    """An RFC 8693 token endpoint that records what it was sent and answers a fixed token."""

    port: int = field(default_factory=free_port)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    async def token(self, request: Request) -> JSONResponse:
        form = dict(await request.form())
        self.requests.append({**form, "authorization": request.headers.get("authorization")})
        return JSONResponse(
            {
                "access_token": f"opaque-{len(self.requests)}",
                "issued_token_type": ACCESS_TOKEN,
                "token_type": "Bearer",
                "expires_in": 300,
            }
        )

    def start(self) -> ForeignTokenEndpoint:
        app = Starlette(routes=[Route("/token", self.token, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(timeout=10)


@pytest.mark.parametrize("client_auth", ["client_secret_basic", "client_secret_post"])
def test_with_an_oidc_issuer_the_endpoint_is_discovered_and_the_caller_is_the_subject(
    plughost_factory, make_dist, stand_in_issuer, client_auth
):
    make_dist("acme-obo", OBO, namespace="obo")
    endpoint = ForeignTokenEndpoint().start()
    stand_in_issuer.metadata = {"issuer": stand_in_issuer.url, "token_endpoint": endpoint.url}
    port = free_port()
    settings = exchange_settings(
        client_id="plughost host", client_secret="s3cret:&=", client_auth=client_auth
    )
    settings["auth"] = {
        "issuer": "oidc",
        "issuer_url": stand_in_issuer.url,
        "jwks_uri": f"{stand_in_issuer.url}/keys",
        "public_url": f"http://127.0.0.1:{port}",
    }
    try:
        host = plughost_factory(plugins=["obo"], settings=settings, port=port)
        now = int(time.time())
        caller = stand_in_issuer.sign(
            {
                "iss": stand_in_issuer.url,
                "aud": host.mcp_url,
                "sub": "ada",
                "org_id": "acme",
                "scope": "obo:use",
                "iat": now,
                "exp": now + 600,
            }
        )
        client = host.client(token=caller)
        answer = client.call("obo_token_info", audience=AUDIENCE, scopes=["contacts:read"])
    finally:
        endpoint.stop()
    assert answer.ok, answer.body
    assert answer.data == {"granted": ["contacts:read"], "expires": True}
    (sent,) = endpoint.requests
    assert sent["grant_type"] == EXCHANGE
    assert sent["subject_token"] == caller and sent["subject_token_type"] == ACCESS_TOKEN
    assert sent["audience"] == AUDIENCE and sent["scope"] == "contacts:read"
    if client_auth == "client_secret_basic":
        encoded = base64.b64encode(b"plughost%20host:s3cret%3A%26%3D").decode()
        assert sent["authorization"] == f"Basic {encoded}"
        assert "client_secret" not in sent
    else:
        assert sent["client_id"] == "plughost host" and sent["client_secret"] == "s3cret:&="
        assert sent["authorization"] is None


def test_a_real_issuer_without_the_hosts_client_is_a_settings_error(tmp_path):
    from plughost.app import build
    from plughost.settings import load_settings
    from plughost.testing import SettingsError

    settings = load_settings(
        data_dir=tmp_path,
        auth={
            "issuer": "oidc",
            "issuer_url": "https://sso.example.com",
            "public_url": "https://mcp.example.com",
        },
        token_exchange={"enabled": True},
    )
    with pytest.raises(SettingsError, match="PLUGHOST_TOKEN_EXCHANGE__CLIENT_ID"):
        build(settings)


# --- the dev issuer's token endpoint, directly ---------------------------------------------


@pytest.fixture
def issuer(start):
    host = start(in_process=True)
    dev = host.app.state.plughost_issuer.dev
    return host, dev


def exchange(host, dev, *, auth: str = "basic", **form: Any) -> httpx.Response:
    body = {
        "grant_type": EXCHANGE,
        "subject_token": host.token(["obo:use"], subject="ada"),
        "subject_token_type": ACCESS_TOKEN,
        "audience": AUDIENCE,
        "scope": "contacts:read",
    }
    headers = {}
    if auth == "basic":
        pair = f"{dev.client_id}:{dev.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    elif auth == "post":
        body.update(client_id=dev.client_id, client_secret=dev.client_secret)
    body = {k: v for k, v in {**body, **form}.items() if v is not None}
    return host.http.post(f"{host.base_url}/oauth/token", data=body, headers=headers)


def test_the_issuer_exchanges_for_the_hosts_client(issuer):
    host, dev = issuer
    for auth in ("basic", "post"):
        response = exchange(host, dev, auth=auth)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["issued_token_type"] == ACCESS_TOKEN and body["token_type"] == "Bearer"
        assert body["scope"] == "contacts:read" and body["expires_in"] > 0
        claims = jwt.decode(
            body["access_token"],
            jwt.PyJWK(dev.jwks()["keys"][0]),
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=host.base_url,
        )
        assert claims["sub"] == "ada" and claims["act"] == {"sub": dev.client_id}
    meta = host.http.get(f"{host.base_url}/.well-known/oauth-authorization-server").json()
    assert EXCHANGE in meta["grant_types_supported"]


def test_the_issuer_caps_the_lifetime_at_the_subject_tokens(issuer):
    host, dev = issuer
    response = exchange(host, dev, subject_token=host.token(["obo:use"], ttl=100))
    assert response.status_code == 200, response.text
    assert 0 < response.json()["expires_in"] <= 100


def test_the_issuer_refuses_clients_other_than_the_host(issuer):
    host, dev = issuer
    assert exchange(host, dev, auth="none").json()["error"] == "invalid_client"
    wrong = exchange(host, dev, auth="post", client_secret="wrong")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    registered = host.http.post(
        f"{host.base_url}/oauth/register",
        json={
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
        },
    ).json()
    other = exchange(
        host,
        dev,
        auth="other",
        client_id=registered["client_id"],
        client_secret=registered["client_secret"],
    )
    assert other.status_code == 400 and other.json()["error"] == "unauthorized_client"


def test_the_issuer_refuses_subject_tokens_it_would_not_accept(issuer, stand_in_issuer):
    host, dev = issuer
    now = int(time.time())
    foreign = stand_in_issuer.sign(
        {"iss": host.base_url, "aud": host.mcp_url, "sub": "eve", "exp": now + 600}
    )
    granted = exchange(host, dev).json()["access_token"]  # a token for the CRM, not for /mcp
    for subject in (
        foreign,
        host.token(["obo:use"], ttl=-1),
        granted,
        "not-a-token",
    ):
        response = exchange(host, dev, subject_token=subject)
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"audience": "https://payroll.internal"}, "invalid_target"),
        ({"audience": None, "resource": "https://payroll.internal"}, "invalid_target"),
        ({"resource": "https://other.internal"}, "invalid_target"),
        ({"audience": None}, "invalid_request"),
        ({"scope": "contacts:read contacts:delete"}, "invalid_scope"),
        ({"subject_token": None}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"actor_token": "x"}, "invalid_request"),
        (
            {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            "invalid_request",
        ),
    ],
)
def test_the_issuer_refuses_requests_outside_the_rules(issuer, form, error):
    host, dev = issuer
    response = exchange(host, dev, **form)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_the_issuer_exchanges_nothing_when_the_operator_allowed_nothing(start):
    host = start(in_process=True, **exchange_settings(enabled=False))
    dev = host.app.state.plughost_issuer.dev
    response = exchange(host, dev)
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"
