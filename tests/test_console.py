"""The operator console at ``/console``, over real HTTP, as a browser without script sees it.

Sign-in is the authorization-code flow through the dev issuer's consent page, driven form by
form with httpx (its own cookie jar as the browser's). The pages are checked for what an
operator must see (bundled and broken plugins, calls counted, refusals with reasons) and for
what must never be there (tokens, secrets, argument values).
"""

from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from processes import cli_env, serve
from test_dependency_faults import database_through_proxy, needs_postgres

from plughost.core.host_scopes import ADMIN_SCOPE
from plughost.testing import free_port

HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
SECRET_ARGUMENT = "pelican-7731-do-not-show"
__all__ = ["database_through_proxy"]  # a fixture, used by name

BROKEN = """\
import os

from plughost import Plugin

PAGER_URL = os.environ["BOOM_PAGER_URL"]

plugin = Plugin(scopes={"boom:read": "Read"})
"""


def browser() -> httpx.Client:
    return httpx.Client(follow_redirects=False, timeout=10)


def to_consent(client: httpx.Client, base: str) -> tuple[str, dict[str, str]]:
    """From /console to the consent page: its HTML and hidden form fields."""
    start = client.get(f"{base}/console")
    assert start.status_code == 303
    assert start.headers["location"] == "/console/signin?next=%2Fconsole"
    signin = client.get(base + start.headers["location"])
    assert signin.status_code == 303
    authorize = signin.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{base}/oauth/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == [ADMIN_SCOPE]
    assert query["client_id"] == ["plughost-console"]
    consent = client.get(client.get(authorize).headers["location"])
    assert consent.status_code == 200, consent.text
    return consent.text, dict(HIDDEN.findall(consent.text))


def sign_in(base: str, *, grant: list[str] | None = None) -> tuple[httpx.Client, httpx.Response]:
    """The whole sign-in; returns the browser and the callback's answer."""
    client = browser()
    page, fields = to_consent(client, base)
    assert ADMIN_SCOPE in page and "Plughost console" in page
    ticked = [ADMIN_SCOPE] if grant is None else grant
    answer = client.post(
        f"{base}/oauth/consent", data={**fields, "decision": "allow", "scope": ticked}
    )
    assert answer.status_code == 303
    callback = answer.headers["location"]
    assert callback.startswith(f"{base}/console/callback?")
    return client, client.get(callback)


@pytest.fixture
def console_host(plughost_factory, make_dist):
    make_dist("acme-boom", BROKEN, namespace="boom")
    return plughost_factory(
        plugins=["todo", "crm", "boom"],
        settings={"audit": {"sink": "off", "database": True}},
        allow_failures=True,
    )


@pytest.fixture
def signed_in(console_host) -> httpx.Client:
    client, landed = sign_in(console_host.base_url)
    assert landed.status_code == 303 and landed.headers["location"] == "/console"
    return client


def test_the_admin_scope_is_declared_advertised_and_grants_no_tool(console_host):
    base = console_host.base_url
    resource = httpx.get(f"{base}/.well-known/oauth-protected-resource").json()
    server = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
    assert ADMIN_SCOPE in resource["scopes_supported"]
    assert ADMIN_SCOPE in server["scopes_supported"]
    challenge = console_host.anonymous().request("tools/list")
    assert challenge.status_code == 401
    assert ADMIN_SCOPE not in challenge.headers["www-authenticate"]
    admin_only = console_host.client([ADMIN_SCOPE])
    assert admin_only.tool_names() == []
    assert admin_only.call("todo_list").status_code == 403


def test_signing_in_through_the_consent_page_lands_on_the_console(console_host, signed_in):
    page = signed_in.get(f"{console_host.base_url}/console")
    assert page.status_code == 200, page.text
    assert "<h1>Plugins</h1>" in page.text
    assert "Signed in as <strong>dev-user</strong>" in page.text
    cookie = next(c for c in signed_in.cookies.jar if c.name == "plughost_console")
    assert cookie.path == "/console" and cookie.has_nonstandard_attr("HttpOnly")
    # The cookie holds no token: it is sealed, and is not a JWT.
    assert cookie.value.count(".") != 2 and not cookie.value.startswith("eyJ")


def test_the_plugins_page_lists_bundled_and_broken_plugins(console_host, signed_in):
    text = signed_in.get(f"{console_host.base_url}/console").text
    for name in ("todo_create", "todo_list", "crm_"):
        assert name in text
    assert "Create and change todo items" in text or "todo:write" in text
    assert '<span class="status status-loaded">loaded</span>' in text
    assert '<span class="status status-failed">failed</span>' in text
    assert "KeyError: &#39;BOOM_PAGER_URL&#39;" in text
    assert "acme-boom" in text
    assert "read-only" in text and "destructive" in text
    assert ADMIN_SCOPE in text
    components = text.split("Resources and prompts of <code>todo</code>", 1)[1]
    components = components.split("</table>", 1)[0]
    for row in ("todo://open", "todo://items/{id}", "todo_plan_my_day"):
        assert f'<th scope="row"><code>{row}</code></th>' in components
    assert "template<br>" in components and "text/markdown" in components
    assert '<code title="Read your organisation&#39;s todo items.">todo:read</code>' in components
    assert "<code>focus</code>" in components


def test_calls_and_refusals_show_on_the_traffic_page(console_host, signed_in):
    writer = console_host.client(["todo:read", "todo:write"], subject="alice")
    assert writer.call("todo_create", title=SECRET_ARGUMENT).ok
    for _ in range(3):
        assert writer.call("todo_list").ok
    reader = console_host.client(["todo:read"], subject="bob")
    assert reader.call("todo_create", title=SECRET_ARGUMENT).status_code == 403
    assert console_host.anonymous().call("todo_list").status_code == 401
    text = _settled(signed_in, f"{console_host.base_url}/console/traffic", "todo_create")
    assert re.search(r"<code>todo_list</code></th>\s*<td class=\"num\">3</td>", text), text
    assert '<span class="status status-http403">403</span> denied' in text
    assert "missing todo:write" in text
    assert '<span class="status status-http401">401</span> unauthenticated' in text
    assert "<svg" in text and 'role="img"' in text


def _settled(client: httpx.Client, url: str, needle: str) -> str:
    """The page once the audit writer (a background thread) has stored the calls."""
    for _ in range(50):
        text = client.get(url).text
        if needle in text and "denied" in text and "unauthenticated" in text:
            return text
        time.sleep(0.1)
    return text


def test_no_page_shows_a_token_a_secret_or_an_argument_value(console_host, signed_in):
    token = console_host.token(["todo:write"])
    writer = httpx.Client(timeout=10)
    console_host.client(token=token).call("todo_create", title=SECRET_ARGUMENT)
    secret = console_host.app.state.plughost_issuer.dev.client_secret
    cookies = [c.value for c in signed_in.cookies.jar]
    base = console_host.base_url
    for path in ("/console", "/console/health", "/console/traffic"):
        text = signed_in.get(base + path).text
        assert SECRET_ARGUMENT not in text
        assert token not in text and token.split(".")[2] not in text
        assert secret not in text
        assert not any(value in text for value in cookies)
        assert "eyJ" not in text
    writer.close()


def test_the_health_page_shows_checks_keys_and_storage(console_host, signed_in):
    text = signed_in.get(f"{console_host.base_url}/console/health").text
    assert "Ready: this replica can serve." in text
    for check in ("database", "signing keys"):
        assert re.search(rf"<th scope=\"row\">{check}</th>\s*<td><span[^>]*>ok</span>", text)
    kid = console_host.app.state.plughost_issuer.keys.key_ids[0]
    assert f"<code>{kid}</code>" in text
    assert "fail open" in text and "600/minute" in text and "memory://" in text


def test_a_token_without_the_admin_scope_gets_403(console_host):
    base = console_host.base_url
    token = console_host.token(["todo:read"])
    page = httpx.get(f"{base}/console", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 403
    assert f"needs the <code>{ADMIN_SCOPE}</code> scope" in page.text
    admin = console_host.token([ADMIN_SCOPE])
    allowed = httpx.get(f"{base}/console/health", headers={"Authorization": f"Bearer {admin}"})
    assert allowed.status_code == 200
    forged = httpx.get(f"{base}/console", headers={"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401


def test_unticking_the_admin_scope_gets_403(console_host):
    client, landed = sign_in(console_host.base_url, grant=[])
    assert landed.status_code == 403
    assert "it was not granted" in landed.text
    assert client.get(f"{console_host.base_url}/console").status_code == 303


def test_a_callback_without_its_sign_in_is_refused_and_codes_are_single_use(console_host):
    base = console_host.base_url
    client = browser()
    _, fields = to_consent(client, base)
    answer = client.post(
        f"{base}/oauth/consent", data={**fields, "decision": "allow", "scope": [ADMIN_SCOPE]}
    )
    callback = answer.headers["location"]
    stranger = browser().get(callback)
    assert stranger.status_code == 400 and "did not start in this browser" in stranger.text
    assert client.get(callback).status_code == 303
    again = client.get(callback)
    assert again.status_code == 400


def test_signing_out_forgets_the_session(console_host, signed_in):
    base = console_host.base_url
    done = signed_in.post(f"{base}/console/signout", headers={"Origin": base})
    assert done.status_code == 200 and "Signed out" in done.text
    assert signed_in.get(f"{base}/console").status_code == 303


def test_console_pages_carry_strict_security_headers(console_host, signed_in):
    base = console_host.base_url
    for path in ("/console", "/console/health", "/console/traffic", "/console/signin"):
        headers = signed_in.get(base + path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["cache-control"] == "no-store"
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    page = signed_in.get(f"{base}/console").text
    assert '<meta name="viewport"' in page and "<script" not in page and "style=" not in page
    assert '<main id="main"' in page and '<nav aria-label="Console pages">' in page
    css = httpx.get(f"{base}/console/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_the_console_can_be_turned_off(plughost_factory):
    host = plughost_factory(plugins=["todo"], settings={"console": {"enabled": False}})
    page = httpx.get(f"{host.base_url}/console")
    assert page.status_code == 404
    assert "PLUGHOST_CONSOLE__ENABLED=false" in page.text


def test_the_console_is_off_on_a_network_bind_with_the_dev_issuer(tmp_path):
    served = serve(cli_env(tmp_path / "data"), "--host", "0.0.0.0", "--allow-remote-dev-issuer")
    try:
        page = httpx.get(f"{served.url}/console")
        assert page.status_code == 404
        assert "binds 0.0.0.0 with the embedded development issuer" in page.text
        assert httpx.get(f"{served.url}/console/signin").status_code == 404
    finally:
        served.stop()


@pytest.fixture
def scalekit():
    from test_oauth_upstream import RESOURCE_ID, AuthorizationServerStandIn, scalekit_metadata

    issuer = AuthorizationServerStandIn()
    issuer.new_key()
    path = f"/.well-known/oauth-authorization-server/resources/{RESOURCE_ID}"
    issuer.serve({path: scalekit_metadata(issuer.url)})
    yield issuer
    issuer.stop()


def scalekit_console(plughost_factory, scalekit, **console: str):
    from test_oauth_upstream import RESOURCE_ID

    port = free_port()
    auth = {
        "issuer": "scalekit",
        "scalekit_environment_url": scalekit.url,
        "scalekit_resource_id": RESOURCE_ID,
        "public_url": f"http://127.0.0.1:{port}",
    }
    settings = {"auth": auth, "console": console}
    return plughost_factory(plugins=["todo"], settings=settings, port=port)


def test_with_a_real_issuer_the_operator_names_the_consoles_client(plughost_factory, scalekit):
    host = scalekit_console(plughost_factory, scalekit)
    page = httpx.get(f"{host.base_url}/console/signin")
    assert page.status_code == 503
    assert "PLUGHOST_CONSOLE__CLIENT_ID" in page.text
    assert f"{host.base_url}/console/callback" in page.text


def test_with_a_real_issuer_the_browser_signs_in_there(plughost_factory, scalekit):
    from test_oauth_upstream import RESOURCE_ID

    host = scalekit_console(plughost_factory, scalekit, client_id="console-app")
    start = browser().get(f"{host.base_url}/console/signin")
    assert start.status_code == 303
    target = urlsplit(start.headers["location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{scalekit.url}/oauth/authorize"
    assert query["client_id"] == ["console-app"] and query["scope"] == [ADMIN_SCOPE]
    assert query["redirect_uri"] == [f"{host.base_url}/console/callback"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    # A token of that issuer holding the admin scope opens the console (as a script would).
    now = int(time.time())
    claims = {
        "iss": f"{scalekit.url}/resources/{RESOURCE_ID}",
        "aud": [RESOURCE_ID],
        "sub": "usr_1",
        "oid": "org_1",
        "iat": now,
        "exp": now + 300,
    }
    admin = scalekit.sign({**claims, "scope": ADMIN_SCOPE})
    plain = scalekit.sign({**claims, "scope": "todo:read"})
    headers = {"Authorization": f"Bearer {admin}"}
    assert httpx.get(f"{host.base_url}/console", headers=headers).status_code == 200
    headers = {"Authorization": f"Bearer {plain}"}
    assert httpx.get(f"{host.base_url}/console", headers=headers).status_code == 403


@needs_postgres
def test_a_stalled_database_gives_a_503_page_and_freezes_nothing(
    plughost_factory, database_through_proxy
):
    proxy, url = database_through_proxy
    host = plughost_factory(
        plugins=["todo"],
        settings={
            "database_url": url,
            "audit": {"sink": "off", "database": True},
            "readiness_timeout_seconds": 1,
            "database_pool_timeout_seconds": 1,
        },
    )
    client, landed = sign_in(host.base_url)
    assert landed.status_code == 303
    proxy.stall()
    try:
        with ThreadPoolExecutor(2) as pool:
            traffic = pool.submit(client.get, f"{host.base_url}/console/traffic", timeout=15)
            assert httpx.get(f"{host.base_url}/healthz", timeout=2).status_code == 200
            page = traffic.result()
        assert page.status_code == 503
        assert "The database did not answer within 1.0s" in page.text
        health = client.get(f"{host.base_url}/console/health", timeout=15)
        assert health.status_code == 200 and "Not ready" in health.text
    finally:
        proxy.pass_through()


def test_on_an_https_public_url_the_cookies_are_secure_and_host_bound(plughost_factory):
    port = free_port()
    host = plughost_factory(
        plugins=["todo"], settings={"auth": {"public_url": f"https://127.0.0.1:{port}"}}, port=port
    )
    start = browser().get(f"{host.base_url}/console/signin")
    assert start.status_code == 303
    cookie = start.headers["set-cookie"]
    assert cookie.startswith("__Host-plughost_console_signin=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"path=/", "secure", "httponly", "samesite=lax"} <= attributes


def test_no_plugin_may_take_the_hosts_namespace(make_dist):
    from plughost.core.discovery import PluginStatus, discover

    make_dist(
        "acme-admin",
        'from plughost import Plugin\nplugin = Plugin(scopes={"plughost:admin": "Mine"})\n',
        namespace="plughost",
    )
    report = discover(host_version="0.1.0", enabled=["plughost"])
    (record,) = [r for r in report.records if r.namespace == "plughost"]
    assert record.status is PluginStatus.FAILED
    assert "is the host's own" in (record.error or "")


def test_the_plugins_page_shows_where_each_plugin_runs_and_its_workers_restarts(
    plughost_factory,
):
    host = plughost_factory(
        plugins=["todo", "crm"],
        settings={"isolation": {"todo": "process"}, "audit": {"sink": "off"}},
    )
    assert host.client(["todo:read"]).call("todo_list").ok
    client, _ = sign_in(host.base_url)

    def todo_card() -> str:
        text = client.get(f"{host.base_url}/console").text
        return text.split("<code>todo</code>", 1)[1].split("</section>", 1)[0]

    card = todo_card()
    assert "<dt>Runs in</dt><dd>own process</dd>" in card
    assert "<dt>Worker restarts</dt><dd>0</dd>" in card
    crm = client.get(f"{host.base_url}/console").text.split("<code>crm</code>", 1)[1]
    assert "<dt>Runs in</dt><dd>host process</dd>" in crm.split("</section>", 1)[0]

    pid = int(re.search(r"running \(pid (\d+)\)", card)[1])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while "<dt>Worker restarts</dt><dd>1</dd>" not in (card := todo_card()):
        assert time.monotonic() < deadline, card
        time.sleep(0.1)
    assert "last ended: killed by SIGKILL" in card
    while not host.client(["todo:read"]).call("todo_list").ok:
        assert time.monotonic() < deadline
        time.sleep(0.1)
