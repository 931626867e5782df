"""``plughost check``: settings, plugins and the issuer's keys, checked before a deploy serves."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import click

from plughost.cli.common import base_url, command_settings, fail
from plughost.errors import PlughostError

if TYPE_CHECKING:
    from plughost.auth.issuers import Issuer


@click.command()
@click.option("--url", default=None, help="Public base URL to check against (default: settings).")
def check(url: str | None) -> None:
    """Validate settings, load plugins strictly, fetch issuer keys; non-zero exit on any problem."""
    from plughost.auth.issuers import resolve_issuer
    from plughost.auth.token_exchange import build_exchanger
    from plughost.core.host import load_plugins
    from plughost.devissuer.keys import embedded_issuer

    logging.basicConfig(level="ERROR")
    problems: list[str] = []
    try:
        settings = command_settings(strict=False)
    except PlughostError as exc:
        fail(exc)
    report = load_plugins(settings)
    problems += [f"plugin {r.namespace} {r.status.value}: {r.error}" for r in report.problems]
    dev = embedded_issuer(settings.auth, settings.data_dir)
    issuer = resolve_issuer(settings.auth, public_url=base_url(settings, url), dev=dev)
    problems += _show_issuer(issuer)
    try:
        build_exchanger(settings.token_exchange, issuer)
    except PlughostError as exc:
        problems.append(str(exc))
    for r in report.records:
        click.echo(f"plugin {r.namespace:<10} {r.status.value:<12} {r.distribution} {r.version}")
        for scope_name, description in r.scopes.items():
            click.echo(f"    {scope_name:<28} {description}")
    if problems:
        for line in problems:
            click.echo(f"problem: {line}", err=True)
        sys.exit(1)
    click.echo("ok")


def _show_issuer(issuer: Issuer) -> list[str]:
    """Print what tokens must say to be accepted, fetching a real issuer's keys; the problems."""
    import asyncio

    cfg = issuer.verifier.config
    click.echo(f"issuer preset:   {issuer.kind}")
    click.echo(f"issuers (iss):   {' '.join(cfg.issuers)}")
    click.echo(f"audiences (aud): {' '.join(cfg.audiences)}")
    click.echo(f"resource:        {issuer.resource}")
    click.echo(f"auth servers:    {' '.join(issuer.authorization_servers)}")
    click.echo(f"tenant claim:    {cfg.tenant_claim}")
    if issuer.dev is not None:
        click.echo(f"signing key id:  {issuer.dev.kid} (embedded dev issuer, development only)")
        return []
    asyncio.run(issuer.keys.refresh())
    click.echo(f"JWKS:            {issuer.keys.uri}")
    if issuer.keys.key_ids:
        click.echo(f"key ids:         {' '.join(issuer.keys.key_ids)}")
        return []
    return [f"no usable signing keys from the issuer ({issuer.keys.last_error})"]
