"""The console's pages: their paths, the templates rendered, the headers every answer carries.

Every answer is strict: no script at all, no framing, no caching (`PAGE_HEADERS`). Templates
are package data (``templates/``, each page extending ``base.html``); values are escaped, and a
missing one is an error, never an empty cell.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from typing import Any

import jinja2
from starlette.responses import HTMLResponse, Response

from plughost.console.session import CONSOLE_PATH, ConsoleSession
from plughost.core.host_scopes import ADMIN_SCOPE

HEALTH_PATH = f"{CONSOLE_PATH}/health"
TRAFFIC_PATH = f"{CONSOLE_PATH}/traffic"
SIGN_IN_PATH = f"{CONSOLE_PATH}/signin"
SIGN_OUT_PATH = f"{CONSOLE_PATH}/signout"
STYLESHEET_PATH = f"{CONSOLE_PATH}/console.css"
#: The paths the templates link to, by name.
PATHS = {
    "plugins": CONSOLE_PATH,
    "health": HEALTH_PATH,
    "traffic": TRAFFIC_PATH,
    "sign_in": SIGN_IN_PATH,
    "sign_out": SIGN_OUT_PATH,
    "css": STYLESHEET_PATH,
}

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The sign-out form must carry its Origin (no-referrer would send "null").
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Pages:
    """The console's templates and stylesheet, loaded once, answered with `PAGE_HEADERS`."""

    def __init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("plughost.console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["when"] = _when
        self.stylesheet = (
            resources.files("plughost.console").joinpath("static/console.css").read_bytes()
        )

    def page(self, template: str, viewer: ConsoleSession, **context: Any) -> HTMLResponse:
        """One of the console's pages, for a signed-in viewer holding the admin scope."""
        return self.render(200, template, viewer=viewer, **context)

    def render(self, status: int, template: str, **context: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            paths=PATHS, admin_scope=ADMIN_SCOPE, **context
        )
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    def message(self, status: int, title: str, text: str, *, sign_in: bool = False) -> HTMLResponse:
        """A page that says one thing (off, refused, signed out), with a sign-in link if asked."""
        return self.render(
            status, "message.html", viewer=None, title=title, text=text, sign_in=sign_in
        )

    def forbidden(self, viewer: ConsoleSession) -> HTMLResponse:
        """The 403 page: who is signed in, and the admin scope their token lacks."""
        return self.render(403, "forbidden.html", viewer=None, who=viewer)

    def css(self) -> Response:
        """The stylesheet, cacheable for a while (it changes only with a release)."""
        headers = {**PAGE_HEADERS, "Cache-Control": "public, max-age=300"}
        return Response(self.stylesheet, media_type="text/css", headers=headers)


def landing_path(requested: str | None) -> str:
    """Where to land after signing in: a console page of this server, nothing else."""
    if requested in (CONSOLE_PATH, HEALTH_PATH, TRAFFIC_PATH):
        return requested
    return CONSOLE_PATH


def _when(value: datetime | None) -> str:
    return "never" if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"
