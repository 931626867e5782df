"""``plughost token``: a dev-issuer token the running host accepts (dev mode only)."""

from __future__ import annotations

import logging
import sys

import click

from plughost.cli.common import base_url, command_settings, fail
from plughost.errors import PlughostError
from plughost.settings import resource_url


@click.command()
@click.option(
    "--scope", "scope", default=None, help="Space-separated scopes; default: all declared."
)
@click.option("--tenant", default="dev", show_default=True, help="Tenant (organisation) id.")
@click.option("--subject", default=None, help="Subject; default: the dev client id.")
@click.option("--ttl", default=3600, show_default=True, type=int, help="Lifetime in seconds.")
@click.option("--url", default=None, help="The host's base URL; default: where it last served.")
def token(scope: str | None, tenant: str, subject: str | None, ttl: int, url: str | None) -> None:
    """Print a dev-issuer token the running host accepts (dev mode only)."""
    from plughost.core.host import load_plugins
    from plughost.core.host_scopes import HOST_SCOPES
    from plughost.devissuer.keys import DevIssuer

    logging.basicConfig(level="ERROR")
    try:
        settings = command_settings()
    except PlughostError as exc:
        fail(exc)
    if settings.auth.issuer != "dev":
        click.echo(
            f"error: tokens come from the {settings.auth.issuer} issuer, not from plughost",
            err=True,
        )
        sys.exit(2)
    longest = settings.auth.max_token_lifetime_seconds
    if not 0 < ttl <= longest:
        click.echo(
            f"error: --ttl must be from 1 to {longest} seconds: the host refuses tokens that "
            "live longer (PLUGHOST_AUTH__MAX_TOKEN_LIFETIME_SECONDS)",
            err=True,
        )
        sys.exit(2)
    dev = DevIssuer(settings.data_dir)
    base = base_url(settings, url)
    plugin_scopes = sorted(
        {s for p in load_plugins(settings).loaded for s in p.record.scopes}
        | {s for mount in settings.mounts.values() for s in mount.scopes}
    )
    declared = sorted({*plugin_scopes, *HOST_SCOPES})
    scopes = scope.split() if scope is not None else plugin_scopes
    unknown = sorted(set(scopes) - set(declared))
    if unknown:
        click.echo(
            f"error: unknown scope(s) {' '.join(unknown)}; declared: {' '.join(declared)}", err=True
        )
        sys.exit(2)
    click.echo(
        dev.mint(
            issuer=base,
            audience=resource_url(base),
            scopes=scopes,
            subject=subject,
            tenant=tenant,
            ttl=ttl,
        )
    )
