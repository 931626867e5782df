"""The dev issuer against abuse, over real HTTP: registration bounded, limited and expiring;
the console's client and name its own; client authentication as RFC 6749 has it, throttled;
``resource`` checked at the token endpoint."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import pytest
from test_oauth import CALLBACK, Client, new_client, pkce, redirected, register

from plughost.testing import McpClient

# --- registration: every field bounded ---------------------------------------------------------


@pytest.fixture
def dev(plughost_factory):
    return plughost_factory(plugins=["todo"])


@pytest.mark.parametrize(
    "metadata",
    [
        {"client_name": "x" * 10_000},
        {"redirect_uris": [f"http://127.0.0.1:{1000 + i}/cb" for i in range(30)]},
        {"redirect_uris": ["http://127.0.0.1:1/" + "a" * 5_000]},
        {"client_uri": "https://app.example/" + "a" * 5_000},
        {"software_id": "s" * 1_000},
        {"contacts": ["ops@example.com"] * 50},
    ],
    ids=["long-name", "many-redirects", "long-redirect", "long-uri", "long-text", "many-contacts"],
)
def test_oversized_registrations_are_refused(dev, metadata):
    response = register(dev.base_url, **metadata)
    assert response.status_code in (400, 413), response.text
    if response.status_code == 400:
        assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


def test_a_huge_registration_body_is_refused_before_it_is_parsed(dev):
    uris = [f"http://127.0.0.1:{1000 + i % 60000}/cb" for i in range(30_000)]
    assert register(dev.base_url, redirect_uris=uris).status_code == 413


def test_registrations_are_limited_per_address(plughost_factory):
    host = plughost_factory(plugins=["todo"], settings={"auth": {"dev_registrations_per_hour": 3}})
    for _ in range(3):
        assert register(host.base_url).status_code == 201
    refused = register(host.base_url)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert set(refused.json()) == {"error", "error_description"}


def test_registrations_never_used_expire_and_used_ones_stay(plughost_factory):
    # A ttl of 0: a registration not yet used is gone at the next one (no wait in the test).
    host = plughost_factory(
        plugins=["todo"], settings={"auth": {"dev_unused_client_ttl_seconds": 0}}
    )
    used = new_client(host.base_url)
    assert (
        McpClient(host.mcp_url, used.tokens("todo:read")["access_token"])
        .call("todo_list")
        .status_code
        == 200
    )
    unused = new_client(host.base_url)
    new_client(host.base_url)  # registering prunes
    _, challenge = pkce()
    assert unused.authorize(code_challenge=challenge).status_code == 400  # unknown client now
    assert used.authorize(code_challenge=challenge).status_code == 302


# --- the console's client and name ---------------------------------------------------------------


FULLWIDTH_PLUGHOST = "\uff30\uff4c\uff55\uff47\uff48\uff4f\uff53\uff54"


@pytest.mark.parametrize(
    "name",
    ["Plughost console", "PLUGHOST  Console", "plughost-console", f"{FULLWIDTH_PLUGHOST} Console"],
)
def test_no_client_may_register_as_the_console(dev, name):
    response = register(dev.base_url, client_name=name)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def _console_authorize(dev, browser: httpx.Client, redirect_uri: str) -> httpx.Response:
    """Start the console's own sign-in (registering its client), then replay its authorize
    request with another redirect."""
    started = browser.get(f"{dev.base_url}/console/signin")
    assert started.status_code == 303
    location = httpx.URL(started.headers["location"])
    params = dict(location.params)
    params["redirect_uri"] = redirect_uri
    return browser.get(location.copy_with(params=params))


def test_the_consoles_redirect_is_pinned_to_its_own_callback(dev):
    browser = httpx.Client(follow_redirects=False)
    own = _console_authorize(dev, browser, f"{dev.base_url}/console/callback")
    assert own.status_code == 302 and "/oauth/consent?" in own.headers["location"]
    port = dev.base_url.rsplit(":", 1)[1]
    other = str(int(port) + 1)
    for elsewhere in (
        f"http://127.0.0.1:{other}/console/callback",
        f"http://localhost:{port}/console/callback",
    ):
        refused = _console_authorize(dev, browser, elsewhere)
        assert refused.status_code == 400, elsewhere
        assert "location" not in refused.headers


def test_the_consent_page_says_who_asks_for_admin(dev):
    client = new_client(dev.base_url, client_name="Friendly Helper")
    _, challenge = pkce()
    page, fields = client.consent_page(
        client.authorize(scope="todo:read plughost:admin", code_challenge=challenge)
    )
    assert "Administrator access requested" in page and "plughost:admin" in page
    assert "does NOT come from the Plughost console" in page
    assert client.id in page and "its own claim" in page
    # Admin is not pre-ticked for another client; read is.
    assert 'value="plughost:admin">' in page and 'value="todo:read" checked' in page
    done = client.answer(fields, scopes=["todo:read"])
    assert "code" in redirected(done)


def test_the_consoles_own_consent_page_names_it(dev):
    browser = httpx.Client(follow_redirects=False)
    authorize = _console_authorize(dev, browser, f"{dev.base_url}/console/callback")
    page = browser.get(authorize.headers["location"]).text
    assert "the Plughost console" in page and "comes from the console itself" in page
    assert 'value="plughost:admin" checked' in page


# --- the token endpoint: client authentication and resource --------------------------------------


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _confidential(dev) -> Client:
    return new_client(dev.base_url, token_endpoint_auth_method="client_secret_post")


def test_http_basic_alone_authenticates_a_confidential_client(dev):
    client = _confidential(dev)
    code, verifier = client.sign_in("todo:read")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": CALLBACK,
        "resource": client.resource,
    }
    response = httpx.post(
        f"{dev.base_url}/oauth/token",
        data=form,
        headers=_basic(client.id, client.info["client_secret"]),
    )
    assert response.status_code == 200, response.text
    meta = httpx.get(f"{dev.base_url}/.well-known/oauth-authorization-server").json()
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]


def test_a_basic_client_id_and_another_in_the_form_are_refused(dev):
    client = _confidential(dev)
    code, verifier = client.sign_in("todo:read")
    response = httpx.post(
        f"{dev.base_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": CALLBACK,
            "client_id": "someone-else",
        },
        headers=_basic(client.id, client.info["client_secret"]),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_foreign_resource_at_the_token_endpoint_is_invalid_target(dev):
    client = new_client(dev.base_url)
    code, verifier = client.sign_in("todo:read")
    foreign = client.exchange(code, verifier, resource="https://elsewhere.example/mcp")
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_target"
    tokens = client.exchange(code, verifier).json()  # the refusal used nothing up
    refreshed = client.token(
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        resource="https://elsewhere.example/mcp",
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_target"


def test_wrong_client_secrets_are_throttled(plughost_factory):
    settings = {"auth": {"dev_client_secret_failures_per_minute": 3}}
    host = plughost_factory(plugins=["todo"], settings=settings)
    client = _confidential(host)
    code, verifier = client.sign_in("todo:read")

    def attempt(secret: str) -> httpx.Response:
        return client.exchange(code, verifier, client_secret=secret)

    assert [attempt("wrong").status_code for _ in range(3)] == [401, 401, 401]
    throttled = attempt(client.info["client_secret"])  # even the right one, for now
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= 60
    assert throttled.json()["error"] == "invalid_client"
    dev_client = httpx.post(
        f"{host.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic("dev-anything", "guess"),
    )
    assert dev_client.status_code == 429  # the address is throttled too
