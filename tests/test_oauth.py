"""The dev issuer as an OAuth 2.1 authorization server, over real HTTP, refusals first.

Each test drives the protocol as an MCP client and a browser would: register, send the
browser to ``/authorize``, read the consent page (with its cookie and form token), answer
it, redeem the code with the PKCE verifier, refresh, revoke, and call ``/mcp`` with what it
got. Nothing is reached around the HTTP interface.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from plughost.devissuer import server as dev_server
from plughost.testing import McpClient

CALLBACK = "http://127.0.0.1:33418/callback"
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class Client:
    """A registered OAuth client and a browser (its own cookie jar) acting for its user."""

    base: str
    info: dict[str, Any]
    browser: httpx.Client = field(default_factory=lambda: httpx.Client(follow_redirects=False))

    @property
    def id(self) -> str:
        return str(self.info["client_id"])

    @property
    def resource(self) -> str:
        return f"{self.base}/mcp"

    def authorize(self, **params: str | None) -> httpx.Response:
        """GET /oauth/authorize with sane defaults; ``None`` leaves a parameter out."""
        query = {
            "response_type": "code",
            "client_id": self.id,
            "redirect_uri": CALLBACK,
            "state": "st-1",
            "resource": self.resource,
            "code_challenge_method": "S256",
            **params,
        }
        sent = {k: v for k, v in query.items() if v is not None}
        return self.browser.get(f"{self.base}/oauth/authorize?{urlencode(sent)}")

    def consent_page(self, response: httpx.Response) -> tuple[str, dict[str, str]]:
        """Follow /authorize's redirect to the consent page: its HTML and hidden fields."""
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(f"{self.base}/oauth/consent?"), location
        page = self.browser.get(location)
        assert page.status_code == 200, page.text
        return page.text, dict(HIDDEN.findall(page.text))

    def answer(
        self, fields: dict[str, str], *, scopes: list[str], decision: str = "allow", **kw: Any
    ) -> httpx.Response:
        form: dict[str, Any] = {**fields, "decision": decision, "scope": scopes}
        return self.browser.post(f"{self.base}/oauth/consent", data=form, **kw)

    def sign_in(self, scope: str, *, tick: list[str] | None = None) -> tuple[str, str]:
        """Authorize, approve (ticking ``tick``, default all) and return (code, verifier)."""
        verifier, challenge = pkce()
        _, fields = self.consent_page(self.authorize(scope=scope, code_challenge=challenge))
        done = self.answer(fields, scopes=scope.split() if tick is None else tick)
        return redirected(done)["code"], verifier

    def token(self, **form: str) -> httpx.Response:
        return httpx.post(f"{self.base}/oauth/token", data={"client_id": self.id, **form})

    def exchange(self, code: str, verifier: str, **extra: str) -> httpx.Response:
        form = {"redirect_uri": CALLBACK, "resource": self.resource, **extra}
        return self.token(
            grant_type="authorization_code", code=code, code_verifier=verifier, **form
        )

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.token(grant_type="refresh_token", refresh_token=refresh_token)

    def tokens(self, scope: str) -> dict[str, Any]:
        """A whole sign-in: the token response."""
        response = self.exchange(*self.sign_in(scope))
        assert response.status_code == 200, response.text
        return dict(response.json())


def redirected(response: httpx.Response, to: str = CALLBACK) -> dict[str, str]:
    """The query parameters of a redirect back to the client."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(to + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def register(base: str, **metadata: Any) -> httpx.Response:
    body = {
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "client_name": "Test Client",
        **metadata,
    }
    return httpx.post(f"{base}/oauth/register", json=body)


def new_client(base: str, **metadata: Any) -> Client:
    response = register(base, **metadata)
    assert response.status_code == 201, response.text
    return Client(base, response.json())


@pytest.fixture
def dev(plughost_factory):
    return plughost_factory(plugins=["todo"])


@pytest.fixture
def client(dev) -> Client:
    return new_client(dev.base_url)


# --- metadata and registration -----------------------------------------------------------


def test_metadata_has_everything_mcp_clients_check(dev):
    meta = httpx.get(f"{dev.base_url}/.well-known/oauth-authorization-server").json()
    base = dev.base_url
    assert meta["issuer"] == base
    assert meta["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["registration_endpoint"] == f"{base}/oauth/register"
    assert meta["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    } == set(meta["grant_types_supported"])
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert meta["scopes_supported"] == ["plughost:admin", "todo:read", "todo:write"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    openid = httpx.get(f"{base}/.well-known/openid-configuration").json()
    assert openid == meta


def test_public_and_confidential_clients_register(dev):
    public = register(dev.base_url).json()
    assert "client_secret" not in public and public["token_endpoint_auth_method"] == "none"
    confidential = register(dev.base_url, token_endpoint_auth_method="client_secret_basic")
    assert confidential.status_code == 201
    assert len(confidential.json()["client_secret"]) >= 32


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/callback",
        "http://192.168.1.5:8080/callback",
        "ftp://127.0.0.1/callback",
        "https://app.example.com/cb#fragment",
        "javascript:alert(1)",
    ],
)
def test_registration_refuses_redirects_that_are_neither_https_nor_loopback(dev, uri):
    response = register(dev.base_url, redirect_uris=[uri])
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")


def test_registrations_survive_a_restart(dev):
    client = new_client(dev.base_url, redirect_uris=["https://app.example.com/cb"])
    dev.restart()
    response = client.authorize(redirect_uri="https://app.example.com/cb", code_challenge="x" * 43)
    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{dev.base_url}/oauth/consent?")


# --- the authorization-code flow -----------------------------------------------------------


def test_a_sign_in_lists_each_scope_with_its_description_and_issues_a_scoped_token(client, dev):
    verifier, challenge = pkce()
    page, fields = client.consent_page(
        client.authorize(scope="todo:read todo:write", code_challenge=challenge, state="s-42")
    )
    assert "Test Client" in page
    assert 'type="checkbox" name="scope" value="todo:read" checked' in page
    assert 'type="checkbox" name="scope" value="todo:write" checked' in page
    assert "plugin <em>todo</em>" in page
    [todo] = [record for record in dev.host.report.records if record.namespace == "todo"]
    assert todo.scopes  # each described scope is on the page, as the browser shows it
    assert all(html.escape(text) in page for text in todo.scopes.values())

    back = redirected(client.answer(fields, scopes=["todo:read"]))  # todo:write unticked
    assert back["state"] == "s-42" and back["iss"] == dev.base_url
    response = client.exchange(back["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["scope"] == "todo:read" and body["refresh_token"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == dev.mcp_url and claims["client_id"] == client.id
    mcp = McpClient(dev.mcp_url, body["access_token"])
    assert sorted(mcp.tool_names()) == ["todo_get", "todo_list"]
    assert mcp.call("todo_create", title="no").status_code == 403


def test_without_a_scope_the_baseline_is_asked(client):
    _, challenge = pkce()
    page, _ = client.consent_page(client.authorize(code_challenge=challenge))
    assert 'value="todo:read" checked' in page and 'value="todo:write"' not in page


def test_step_up_goes_back_through_consent_and_the_new_token_carries_both(client, dev):
    reader = client.tokens("todo:read")["access_token"]
    refused = McpClient(dev.mcp_url, reader).call("todo_create", title="later")
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    asked = challenge.split('scope="')[1].split('"')[0]
    assert asked == "todo:read todo:write"

    writer = client.tokens(asked)
    assert writer["scope"] == "todo:read todo:write"
    created = McpClient(dev.mcp_url, writer["access_token"]).call("todo_create", title="now")
    assert created.status_code == 200, created.text


def test_the_user_can_deny(client):
    _, challenge = pkce()
    _, fields = client.consent_page(client.authorize(scope="todo:read", code_challenge=challenge))
    back = redirected(client.answer(fields, scopes=["todo:read"], decision="deny"))
    assert back["error"] == "access_denied" and back["state"] == "st-1"
    assert "code" not in back


def test_unticking_every_scope_is_a_denial(client):
    _, challenge = pkce()
    _, fields = client.consent_page(client.authorize(scope="todo:read", code_challenge=challenge))
    back = redirected(client.answer(fields, scopes=[]))
    assert back["error"] == "access_denied"


def test_a_loopback_redirect_may_use_any_port_but_nothing_else_may_change(client):
    _, challenge = pkce()
    other_port = "http://127.0.0.1:50123/callback"
    response = client.authorize(
        scope="todo:read", redirect_uri=other_port, code_challenge=challenge
    )
    _, fields = client.consent_page(response)
    assert "code" in redirected(client.answer(fields, scopes=["todo:read"]), to=other_port)
    for wrong in ("http://127.0.0.1:50123/other", "http://localhost:33418/callback"):
        response = client.authorize(scope="todo:read", redirect_uri=wrong, code_challenge=challenge)
        assert response.status_code == 400, wrong


def test_auto_approve_skips_the_consent_page(plughost_factory):
    host = plughost_factory(plugins=["todo"], settings={"auth": {"dev_auto_approve": True}})
    client = new_client(host.base_url)
    verifier, challenge = pkce()
    back = redirected(client.authorize(scope="todo:write", code_challenge=challenge))
    assert client.exchange(back["code"], verifier).json()["scope"] == "todo:write"


# --- refusals ------------------------------------------------------------------------------


def test_an_unregistered_redirect_is_refused_without_redirecting(client):
    _, challenge = pkce()
    response = client.authorize(redirect_uri="https://evil.example/cb", code_challenge=challenge)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "location" not in response.headers


def test_an_unknown_client_is_refused_without_redirecting(client):
    _, challenge = pkce()
    response = client.authorize(client_id="nobody", code_challenge=challenge)
    assert response.status_code == 400 and "location" not in response.headers


@pytest.mark.parametrize(
    "pkce_params",
    [{"code_challenge": None}, {"code_challenge": "abc", "code_challenge_method": "plain"}],
    ids=["missing", "plain"],
)
def test_pkce_s256_is_mandatory(client, pkce_params):
    back = redirected(client.authorize(scope="todo:read", **pkce_params))
    assert back["error"] == "invalid_request" and back["state"] == "st-1"


def test_a_foreign_resource_is_refused(client):
    _, challenge = pkce()
    back = redirected(
        client.authorize(resource="https://elsewhere.example/mcp", code_challenge=challenge)
    )
    assert back["error"] == "invalid_target"


def test_an_undeclared_scope_is_refused(client):
    _, challenge = pkce()
    back = redirected(client.authorize(scope="todo:read admin:all", code_challenge=challenge))
    assert back["error"] == "invalid_scope" and "admin:all" in back["error_description"]


def test_a_wrong_verifier_is_refused(client):
    code, _ = client.sign_in("todo:read")
    response = client.exchange(code, pkce()[0])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_the_code_is_bound_to_its_redirect_and_client(client, dev):
    code, verifier = client.sign_in("todo:read")
    other = new_client(dev.base_url)
    assert other.exchange(code, verifier).json()["error"] == "invalid_grant"
    moved = client.exchange(code, verifier, redirect_uri="http://127.0.0.1:9/callback")
    assert moved.json()["error"] == "invalid_request"
    assert client.exchange(code, verifier).status_code == 200


def test_a_reused_code_is_refused_and_revokes_what_it_issued(client):
    code, verifier = client.sign_in("todo:read")
    first = client.exchange(code, verifier)
    assert first.status_code == 200
    again = client.exchange(code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert code not in again.text
    assert client.refresh(first.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_an_expired_code_is_refused(client, monkeypatch):
    # Codes expire on whole seconds: one issued already a second past its end is expired
    # when redeemed, as a sixty-second code is a minute later, with no wait in the test.
    monkeypatch.setattr(dev_server, "CODE_TTL_SECONDS", -1)
    code, verifier = client.sign_in("todo:read")
    assert client.exchange(code, verifier).json()["error"] == "invalid_grant"


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(client, dev):
    first = client.tokens("todo:read todo:write")
    rotated = client.refresh(first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == "todo:read todo:write"
    assert McpClient(dev.mcp_url, second["access_token"]).call("todo_list").status_code == 200

    replay = client.refresh(first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The thief may hold the newest token: the whole sign-in is gone.
    assert client.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_refresh_may_narrow_but_not_widen(client):
    first = client.tokens("todo:read")
    wider = client.token(
        grant_type="refresh_token", refresh_token=first["refresh_token"], scope="todo:write"
    )
    assert wider.json()["error"] == "invalid_scope"


def test_revoking_a_refresh_token_ends_the_sign_in(client):
    tokens = client.tokens("todo:read")
    revoked = httpx.post(
        f"{client.base}/oauth/revoke",
        data={"client_id": client.id, "token": tokens["refresh_token"]},
    )
    assert revoked.status_code == 200
    assert client.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_an_access_token_ends_its_refresh_tokens(client):
    tokens = client.tokens("todo:read")
    revoked = httpx.post(
        f"{client.base}/oauth/revoke",
        data={"client_id": client.id, "token": tokens["access_token"]},
    )
    assert revoked.status_code == 200
    assert client.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_confidential_client_must_authenticate(dev):
    client = new_client(dev.base_url, token_endpoint_auth_method="client_secret_post")
    code, verifier = client.sign_in("todo:read")
    assert client.exchange(code, verifier).status_code == 401
    ok = client.exchange(code, verifier, client_secret=client.info["client_secret"])
    assert ok.status_code == 200, ok.text


# --- the consent page's CSRF protection ----------------------------------------------------


def _consent(client: Client) -> dict[str, str]:
    _, challenge = pkce()
    return client.consent_page(client.authorize(scope="todo:read", code_challenge=challenge))[1]


def test_a_consent_answer_without_the_form_token_is_refused(client):
    fields = _consent(client)
    response = client.answer({"request": fields["request"]}, scopes=["todo:read"])
    assert response.status_code == 403
    assert "location" not in response.headers


def test_a_consent_answer_from_another_browser_is_refused(client, dev):
    fields = _consent(client)
    elsewhere = Client(dev.base_url, client.info)  # same client, no cookie from this page
    elsewhere.browser.cookies.set("plughost_consent", "forged", path="/oauth/consent")
    assert elsewhere.answer(fields, scopes=["todo:read"]).status_code == 403


def test_a_consent_answer_from_another_origin_is_refused(client):
    fields = _consent(client)
    foreign = client.answer(
        fields, scopes=["todo:read"], headers={"Origin": "http://127.0.0.1:6274"}
    )
    assert foreign.status_code == 403
    # The refused attempts consumed nothing: the user's own answer still goes through.
    own = client.answer(fields, scopes=["todo:read"], headers={"Origin": client.base})
    assert "code" in redirected(own)


def test_a_consent_request_is_answered_once(client):
    fields = _consent(client)
    assert "code" in redirected(client.answer(fields, scopes=["todo:read"]))
    assert client.answer(fields, scopes=["todo:read"]).status_code == 400


def test_the_consent_page_cannot_be_framed_or_cached(client):
    _, challenge = pkce()
    location = client.authorize(code_challenge=challenge).headers["location"]
    page = client.browser.get(location)
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


# --- browsers: CORS for loopback pages on the endpoints they fetch ---------------------------


@pytest.mark.parametrize(
    "path", ["/oauth/token", "/oauth/register", "/.well-known/oauth-authorization-server", "/mcp"]
)
def test_loopback_pages_may_fetch_the_oauth_endpoints_and_mcp(dev, path):
    origin = "http://localhost:6274"
    preflight = httpx.options(
        dev.base_url + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,mcp-protocol-version",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == origin


def test_a_401_from_mcp_exposes_its_challenge_to_loopback_pages(dev):
    response = httpx.post(
        dev.mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "Origin": "http://127.0.0.1:6274",
            "Accept": "application/json, text/event-stream",
        },
    )
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:6274"
    assert "www-authenticate" in response.headers["access-control-expose-headers"].lower()


def test_the_consent_and_authorize_pages_are_not_readable_cross_origin(client):
    _, challenge = pkce()
    location = client.authorize(code_challenge=challenge).headers["location"]
    page = client.browser.get(location, headers={"Origin": "http://127.0.0.1:6274"})
    assert "access-control-allow-origin" not in page.headers


def test_other_sites_get_no_cors_and_are_refused(dev):
    response = httpx.post(
        f"{dev.base_url}/oauth/token", data={}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
