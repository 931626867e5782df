"""Assemble the whole ASGI application a replica serves: plugins, auth, and the MCP endpoint."""

from __future__ import annotations

import gc
import ipaddress
import os
import sys
from pathlib import Path

from fastmcp.server.dependencies import get_access_token
from starlette.applications import Starlette

from plughost.auth.issuers import Issuer, resolve_issuer
from plughost.auth.provider import CallerToken, PlughostAuth
from plughost.core.host import build_host, create_app, load_plugins
from plughost.errors import SettingsError
from plughost.ops.metrics import Metrics
from plughost.sdk.context import Caller
from plughost.settings import HostSettings, load_settings

BIND_ENV = "_PLUGHOST_BIND"


def current_caller() -> Caller:
    """The verified caller of the current request; fails closed when there is none."""
    token = get_access_token()
    if not isinstance(token, CallerToken):
        raise PermissionError("no verified caller for this request")
    return token.caller


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_url(settings: HostSettings, bind_host: str, port: int) -> str:
    if settings.auth.public_url:
        return settings.auth.public_url.rstrip("/")
    host = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def check_dev_exposure(settings: HostSettings, bind_host: str) -> None:
    """The dev issuer hands tokens to anyone who can reach it: loopback only, unless told."""
    if settings.auth.issuer != "dev" or is_loopback(bind_host):
        return
    if not settings.auth.allow_remote_dev_issuer:
        raise SettingsError(
            f"refusing to serve the dev issuer on {bind_host}: anyone who can reach it can mint "
            "tokens. Bind 127.0.0.1, configure a real issuer (PLUGHOST_AUTH__ISSUER=scalekit or "
            "oidc), or pass --allow-remote-dev-issuer if you really mean it."
        )


def build(settings: HostSettings, *, bind_host: str = "127.0.0.1", port: int = 8000) -> Starlette:
    """Load plugins and build the app; ``app.state.plughost`` is the `Host`."""
    check_dev_exposure(settings, bind_host)
    base = public_url(settings, bind_host, port)
    report = load_plugins(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    metrics = Metrics()
    issuer = resolve_issuer(
        settings.auth,
        data_dir=settings.data_dir,
        public_url=base,
        on_jwks_fetch=lambda ok: metrics.jwks_fetches.labels(result="ok" if ok else "error").inc(),
    )

    def scopes_supported() -> list[str]:
        return sorted({scope for p in report.loaded for scope in p.record.scopes})

    auth = PlughostAuth(
        issuer,
        base_url=base,
        scopes_supported=scopes_supported,
        dev_token_ttl=settings.auth.dev_token_ttl_seconds,
    )
    host = build_host(settings, auth=auth, caller=current_caller, report=report, metrics=metrics)
    app = create_app(
        host, resource_metadata_url=auth.resource_metadata_url, keys_ready=issuer.keys.ensure
    )
    app.state.plughost = host
    app.state.plughost_issuer = issuer
    app.state.plughost_banner = _banner(issuer, base, bind_host, report_count=len(report.loaded))
    if issuer.dev is not None:
        issuer.dev.remember_url(base, issuer.resource)
    return app


def _banner(issuer: Issuer, base: str, bind_host: str, *, report_count: int) -> list[str]:
    lines = [f"Plughost: {report_count} plugin(s) at {issuer.resource}"]
    if issuer.dev is None:
        lines.append(
            f"Tokens from the {issuer.kind} issuer; "
            f"metadata at {base}/.well-known/oauth-protected-resource"
        )
        return lines
    command = _own_command()
    lines += [
        "Auth: embedded dev issuer (development only).",
        f"  Get a token:     {command} token            (all scopes; --scope to narrow)",
        f"  Client id:       {issuer.dev.client_id} (secret in {issuer.dev.dir}/client.json)",
        "  MCP Inspector:   npx @modelcontextprotocol/inspector --cli "
        f"{issuer.resource} --transport http --method tools/list "
        f'--header "Authorization: Bearer $({command} token)"',
    ]
    if not is_loopback(bind_host):
        lines.insert(
            0,
            "WARNING: the dev issuer is reachable from the network; anyone there can mint tokens.",
        )
    return lines


def _own_command() -> str:
    """How the user can run this same plughost again (it may live in a virtualenv off PATH)."""
    script = Path(sys.argv[0])
    if script.name == "plughost" and script.exists():
        return str(script.resolve())
    return f"{sys.executable} -m plughost"


def app_from_env() -> Starlette:
    """The app a worker process builds (``plughost serve --workers N``): settings from the
    environment, the bind address from ``_PLUGHOST_BIND`` set by the parent."""
    host, _, port = os.environ.get(BIND_ENV, "127.0.0.1:8000").rpartition(":")
    app = build(load_settings(), bind_host=host, port=int(port))
    tune_gc_for_serving()
    return app


#: Young-generation GC threshold while serving: CPython's default of 700 net allocations
#: means a collection every other request or so under load.
SERVING_GC_THRESHOLD = 10_000


def tune_gc_for_serving() -> None:
    """Keep the cyclic garbage collector off the per-request path of a serving process.

    Everything built at start-up (modules, plugins, tools, the app) lives as long as the
    process, yet each full collection would walk it all again while requests wait; freezing
    it does that work once. Young collections are made rarer too: reference counting already
    frees almost everything a request allocates, and with many requests in flight each young
    collection mostly walks (and promotes) live request state. Together this took more off
    each call than the host's own middleware adds (bench/RESULTS.md). For the process
    `plughost serve` runs, not for tests that start many hosts in one process.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(SERVING_GC_THRESHOLD, older, oldest)
