"""The dev issuer's consent page: what a client asks for, each scope ticked or not, then a code.

The page lists every requested scope with the description its plugin declared and a checkbox,
so the developer can grant less than asked; the client's name and where the browser goes
next are shown as given, escaped. A registered client's name is its own claim, so the page
says so and shows its client id; only the host's own console is named as such. A request for
the host's admin scope is spelled out in a warning above everything else, and for any client
but the console that scope starts unticked: granting it takes a deliberate tick.

A decision is a same-origin form POST protected against cross-site request forgery in three
ways: the token in the form is an HMAC of the request and a random value in an HttpOnly
cookie set with the page (so only the browser that loaded the page can answer it), a request
carrying another ``Origin`` is refused, and the pending request is taken once. The page has
no script, may not be framed, and asks not to be cached.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from plughost.core.host_scopes import ADMIN_SCOPE
from plughost.devissuer.keys import DEV_TENANT
from plughost.devissuer.options import ScopeInfo
from plughost.devissuer.paths import CONSENT_PATH
from plughost.devissuer.registration import CONSOLE_CLIENT_ID
from plughost.devissuer.server import DEV_USER, DevAuthorizationServer
from plughost.devissuer.store import PendingAuthorization

COOKIE = "plughost_consent"
CSRF_PURPOSE = "plughost consent csrf v1"

STYLE = """
body{font:16px/1.5 system-ui,sans-serif;color:#1b1b1b;background:#f6f6f4;margin:0}
main{max-width:34rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin:0 0 .5rem}
fieldset{border:1px solid #c8c8c8;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
legend{font-weight:600;padding:0 .25rem}
label{display:flex;gap:.6rem;align-items:flex-start;padding:.45rem 0}
input[type=checkbox]{width:1.2rem;height:1.2rem;margin-top:.2rem;flex:none}
code{background:#eef;padding:0 .25rem;border-radius:3px;white-space:nowrap}
.desc{display:block;color:#3d3d3d}
.buttons{display:flex;gap:.75rem;margin-top:1rem}
button{font:inherit;padding:.5rem 1.25rem;border-radius:6px;border:2px solid #1a4fa0;cursor:pointer}
button[value=allow]{background:#1a4fa0;color:#fff}
button[value=deny]{background:#fff;color:#1a4fa0}
button:focus-visible,input:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
.note{font-size:.9rem;color:#4a4a4a}
.who{font-size:.95rem;color:#3d3d3d}
.admin{border:3px solid #b00020;background:#fff0f0;border-radius:6px;padding:.75rem 1rem;
margin:1rem 0;color:#5c0010}
.admin strong{color:#b00020}
""".strip()
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # A same-origin form POST must carry its Origin (no-referrer would send "null").
    "Referrer-Policy": "same-origin",
}


@dataclass
class ConsentPage:
    """GET shows the request; POST answers it with a redirect to the client."""

    server: DevAuthorizationServer

    def __post_init__(self) -> None:
        self._key = self.server.dev.derived_key(CSRF_PURPOSE)
        parts = urlsplit(self.server.issuer)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._secure = parts.scheme == "https"

    def routes(self) -> list[Route]:
        return [
            Route(CONSENT_PATH, self.show, methods=["GET"]),
            Route(CONSENT_PATH, self.decide, methods=["POST"]),
        ]

    async def show(self, request: Request) -> Response:
        request_id = request.query_params.get("request", "")
        pending = await self.server.pending(request_id)
        if pending is None:
            return _message(400, "This sign-in request has expired or was already answered.")
        client = await self.server.get_client(pending.client_id)
        name = (client.client_name if client else None) or pending.client_id
        binding = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
        page = _render(
            client_name=name,
            first_party=pending.client_id == CONSOLE_CLIENT_ID,
            pending=pending,
            scopes=_describe(pending.scopes, self.server.catalog()),
            request_id=request_id,
            csrf=self._csrf(request_id, binding),
        )
        response = HTMLResponse(page, headers=PAGE_HEADERS)
        response.set_cookie(
            COOKIE,
            binding,
            path=CONSENT_PATH,
            httponly=True,
            samesite="strict",
            secure=self._secure,
        )
        return response

    async def decide(self, request: Request) -> Response:
        form = await request.form()
        request_id = str(form.get("request") or "")
        if not self._authentic(request, form, request_id):
            return _message(
                403,
                "This answer did not come from the consent page this browser was shown "
                "(a missing or wrong form token, cookie or origin), so it was ignored.",
            )
        pending = await self.server.take_pending(request_id)
        if pending is None:
            return _message(400, "This sign-in request has expired or was already answered.")
        if form.get("decision") == "allow":
            ticked = [str(scope) for scope in form.getlist("scope")]
            target = await self.server.approve(pending, ticked)
        else:
            target = self.server.denied(pending)
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})

    def _csrf(self, request_id: str, binding: str) -> str:
        mac = hmac.new(self._key, f"{request_id}\x00{binding}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def _authentic(self, request: Request, form: FormData, request_id: str) -> bool:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() != self._origin.lower():
            return False
        binding = request.cookies.get(COOKIE)
        token = form.get("csrf")
        if not binding or not isinstance(token, str) or not request_id:
            return False
        return hmac.compare_digest(token.encode(), self._csrf(request_id, binding).encode())


def _describe(requested: list[str], catalog: list[ScopeInfo]) -> list[ScopeInfo]:
    """Each requested scope with its plugin's words (a withdrawn plugin's scope says so)."""
    known = {scope.name: scope for scope in catalog}
    unknown = "no plugin that declares this scope is loaded now"
    return [
        known.get(name) or ScopeInfo(name=name, plugin=name.partition(":")[0], description=unknown)
        for name in requested
    ]


def _who(client_name: str, client_id: str, first_party: bool) -> tuple[str, str]:
    """The heading's name, and the line saying who this client really is."""
    e = html.escape
    if first_party:
        return "the Plughost console", (
            f'<p class="who">This is this server\'s own operator console (client id '
            f"<code>{e(client_id)}</code>).</p>"
        )
    return f"“{e(client_name)}”", (
        f'<p class="who">Client id <code>{e(client_id)}</code>, registered by the application '
        "itself: its name is its own claim, not checked by this server.</p>"
    )


def _admin_warning(scopes: list[ScopeInfo], first_party: bool) -> str:
    """The admin scope, asked for, in words nobody can miss."""
    if not any(s.name == ADMIN_SCOPE for s in scopes):
        return ""
    source = (
        "This request comes from the console itself."
        if first_party
        else "This request does NOT come from the Plughost console; only the console needs "
        "this scope. It is unticked below: tick it only if you mean to make this application "
        "an administrator."
    )
    return (
        f'<div class="admin" role="alert"><strong>Administrator access requested: '
        f"<code>{ADMIN_SCOPE}</code>.</strong> It lets the holder read the operator console: "
        f"every plugin, the server's health and the traffic of every caller. {source}</div>"
    )


def _render(
    *,
    client_name: str,
    first_party: bool,
    pending: PendingAuthorization,
    scopes: list[ScopeInfo],
    request_id: str,
    csrf: str,
) -> str:
    e = html.escape
    back_to = urlsplit(pending.redirect_uri)
    name, who = _who(client_name, pending.client_id, first_party)

    def ticked(scope: ScopeInfo) -> str:
        return "" if scope.name == ADMIN_SCOPE and not first_party else " checked"

    items = "".join(
        f'<label><input type="checkbox" name="scope" value="{e(s.name)}"{ticked(s)}>'
        f'<span><code>{e(s.name)}</code> <span class="desc">{e(s.description)} '
        f"(plugin <em>{e(s.plugin)}</em>)</span></span></label>"
        for s in scopes
    )
    fieldset = (
        f"<fieldset><legend>Permissions requested</legend>{items}</fieldset>"
        if scopes
        else "<p>No permissions are requested.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to Plughost</title><style>{STYLE}</style></head>
<body><main>
<h1>Allow <strong>{name}</strong> to use Plughost?</h1>
{who}
{_admin_warning(scopes, first_party)}
<p>It asks for the permissions below on <code>{e(pending.resource)}</code>,
as <code>{DEV_USER}</code> of organisation <code>{DEV_TENANT}</code>. Untick anything you
do not want to grant.</p>
<form method="post" action="{CONSENT_PATH}">
<input type="hidden" name="request" value="{e(request_id)}">
<input type="hidden" name="csrf" value="{e(csrf)}">
{fieldset}
<div class="buttons">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>
<p class="note">Your answer is sent back to
<code>{e(f"{back_to.scheme}://{back_to.netloc}")}</code>. This is Plughost's embedded
development issuer: it runs on this machine only.</p>
</main></body></html>
"""


def _message(status: int, text: str) -> HTMLResponse:
    """A short page for a consent answer that cannot be taken, with what to do next."""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Plughost sign-in</title><style>{STYLE}</style></head><body><main>"
        f"<h1>Sign-in not completed</h1><p>{html.escape(text)}</p>"
        "<p>Start the sign-in again from your MCP client.</p></main></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)
