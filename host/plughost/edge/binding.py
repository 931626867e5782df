"""Where the server listens: its public URL, the dev issuer's exposure rule, the start banner."""

from __future__ import annotations

import sys
from pathlib import Path

from plughost.auth.issuers import Issuer
from plughost.core.host_scopes import ADMIN_SCOPE
from plughost.errors import SettingsError
from plughost.ops.loopback import is_loopback
from plughost.settings import HostSettings


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


def banner(
    issuer: Issuer,
    base: str,
    bind_host: str,
    *,
    report_count: int,
    mount_count: int = 0,
    console_url: str | None = None,
) -> list[str]:
    """What ``plughost serve`` prints at start: what it serves (plugins loaded, mounts declared,
    whether up or not yet), where, and how to get a token."""
    mounts = f" and {mount_count} mount(s)" if mount_count else ""
    lines = [f"Plughost: {report_count} plugin(s){mounts} at {issuer.resource}"]
    if console_url is not None:
        lines.append(f"Console: {console_url} (sign in with the {ADMIN_SCOPE} scope)")
    if issuer.dev is None:
        lines.append(
            f"Tokens from the {issuer.kind} issuer; "
            f"metadata at {base}/.well-known/oauth-protected-resource"
        )
        return lines
    command = _own_command()
    lines += [
        "Auth: embedded dev issuer (development only).",
        f"  Sign in:         point an MCP client at {issuer.resource}; it opens the consent "
        "page in your browser",
        f"  Scripts:         {command} token            (all scopes; --scope to narrow)",
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
