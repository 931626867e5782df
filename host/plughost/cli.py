"""The ``plughost`` command: serve the host, inspect plugins."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, NoReturn

import click

from plughost import __version__
from plughost.errors import PlughostError


def _settings(*, strict: bool = False, allow_remote_dev_issuer: bool = False) -> Any:
    from plughost.settings import load_settings

    settings = load_settings()
    if strict:
        settings.strict = True
    if allow_remote_dev_issuer:
        settings.auth.allow_remote_dev_issuer = True
    return settings


def _fail(exc: PlughostError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group()
@click.version_option(__version__, prog_name="plughost")
def main() -> None:
    """Plughost: one shared MCP server for every team's tools."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--strict", is_flag=True, help="Refuse to start if any plugin fails to load.")
@click.option(
    "--allow-remote-dev-issuer",
    is_flag=True,
    help="Let the dev issuer serve on a non-loopback address. Anyone who reaches it gets tokens.",
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str, port: int, strict: bool, allow_remote_dev_issuer: bool, log_level: str
) -> None:
    """Run the server: streamable HTTP at /mcp, health at /healthz."""
    import uvicorn

    from plughost.app import build

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(strict=strict, allow_remote_dev_issuer=allow_remote_dev_issuer)
        app = build(settings, bind_host=host, port=port)
    except PlughostError as exc:
        _fail(exc)
    for line in app.state.plughost_banner:
        click.echo(line, err=line.startswith("WARNING"))
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="on")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the load report as JSON.")
def plugins(as_json: bool) -> None:
    """Show every installed plugin and whether it loaded."""
    from plughost.server import load_plugins

    logging.basicConfig(level="ERROR")
    try:
        settings = _settings()
        settings.strict = False
        report = load_plugins(settings)
    except PlughostError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in report.records], indent=2))
        return
    if not report.records:
        click.echo("no plugins installed (entry-point group 'mcp_tools')")
        return
    for r in report.records:
        click.echo(f"{r.namespace:<12} {r.status.value:<12} {r.distribution} {r.version}")
        if r.error:
            click.echo(f"    {r.error}")
        for tool in r.tools:
            click.echo(f"    {tool.name:<40} {' '.join(tool.scopes) or '(no scopes)'}")


@main.command()
@click.option(
    "--scope", "scope", default=None, help="Space-separated scopes; default: all declared."
)
@click.option("--tenant", default="dev", show_default=True, help="Tenant (organisation) id.")
@click.option("--subject", default=None, help="Subject; default: the dev client id.")
@click.option("--ttl", default=3600, show_default=True, type=int, help="Lifetime in seconds.")
@click.option("--url", default=None, help="The host's base URL; default: where it last served.")
def token(scope: str | None, tenant: str, subject: str | None, ttl: int, url: str | None) -> None:
    """Print a dev-issuer token the running host accepts (dev mode only)."""
    from plughost.auth.dev_issuer import DevIssuer
    from plughost.server import load_plugins

    logging.basicConfig(level="ERROR")
    try:
        settings = _settings()
    except PlughostError as exc:
        _fail(exc)
    if settings.auth.issuer != "dev":
        click.echo(
            f"error: tokens come from the {settings.auth.issuer} issuer, not from plughost",
            err=True,
        )
        sys.exit(2)
    dev = DevIssuer(settings.data_dir)
    remembered = dev.remembered_url()
    if url:
        base = url.rstrip("/")
    elif settings.auth.public_url:
        base = settings.auth.public_url.rstrip("/")
    elif remembered:
        base = remembered[0]
    else:
        base = "http://127.0.0.1:8000"
    declared = sorted({s for p in load_plugins(settings).loaded for s in p.record.scopes})
    scopes = scope.split() if scope is not None else declared
    unknown = sorted(set(scopes) - set(declared))
    if unknown:
        click.echo(
            f"error: unknown scope(s) {' '.join(unknown)}; declared: {' '.join(declared)}", err=True
        )
        sys.exit(2)
    click.echo(
        dev.mint(
            issuer=base,
            audience=base + "/mcp",
            scopes=scopes,
            subject=subject,
            tenant=tenant,
            ttl=ttl,
        )
    )


@main.command()
@click.option("--url", default=None, help="Public base URL to check against (default: settings).")
def check(url: str | None) -> None:
    """Validate settings, load plugins strictly, fetch issuer keys; non-zero exit on any problem."""
    import asyncio

    from plughost.app import public_url
    from plughost.auth.issuers import resolve_issuer
    from plughost.server import load_plugins

    logging.basicConfig(level="ERROR")
    problems: list[str] = []
    try:
        settings = _settings(strict=False)
    except PlughostError as exc:
        _fail(exc)
    report = load_plugins(settings)
    problems += [f"plugin {r.namespace} {r.status.value}: {r.error}" for r in report.problems]
    base = url.rstrip("/") if url else public_url(settings, "127.0.0.1", 8000)
    issuer = resolve_issuer(settings.auth, data_dir=settings.data_dir, public_url=base)
    cfg = issuer.verifier.config
    click.echo(f"issuer preset:   {issuer.kind}")
    click.echo(f"issuers (iss):   {' '.join(cfg.issuers)}")
    click.echo(f"audiences (aud): {' '.join(cfg.audiences)}")
    click.echo(f"resource:        {issuer.resource}")
    click.echo(f"auth servers:    {' '.join(issuer.authorization_servers)}")
    click.echo(f"tenant claim:    {cfg.tenant_claim}")
    if issuer.dev is not None:
        click.echo(f"signing key id:  {issuer.dev.kid} (embedded dev issuer, development only)")
    else:
        asyncio.run(issuer.keys.refresh())
        click.echo(f"JWKS:            {issuer.keys.uri}")
        if issuer.keys.key_ids:
            click.echo(f"key ids:         {' '.join(issuer.keys.key_ids)}")
        else:
            problems.append(f"no usable signing keys from the issuer ({issuer.keys.last_error})")
    for r in report.records:
        click.echo(f"plugin {r.namespace:<10} {r.status.value:<12} {r.distribution} {r.version}")
        for scope_name, description in r.scopes.items():
            click.echo(f"    {scope_name:<28} {description}")
    if problems:
        for line in problems:
            click.echo(f"problem: {line}", err=True)
        sys.exit(1)
    click.echo("ok")
