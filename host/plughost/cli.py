"""The ``plughost`` command: serve the host, inspect plugins."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from plughost import __version__
from plughost.errors import PlughostError
from plughost.ops.audit import Outcome


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
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port.",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this certificate (PEM), for deployments without an ingress.",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The certificate's private key (PEM).",
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str,
    port: int,
    strict: bool,
    allow_remote_dev_issuer: bool,
    workers: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    log_level: str,
) -> None:
    """Run the server: streamable HTTP at /mcp, /healthz, /readyz and /metrics."""
    import os
    import tempfile

    import uvicorn

    from plughost.app import BIND_ENV, build, tune_gc_for_serving
    from plughost.ops.logs import configure_logging

    if bool(ssl_certfile) != bool(ssl_keyfile):
        click.echo("error: --ssl-certfile and --ssl-keyfile go together", err=True)
        sys.exit(2)
    try:
        settings = _settings(strict=strict, allow_remote_dev_issuer=allow_remote_dev_issuer)
        configure_logging(log_level, settings.log_format)
        app = build(settings, bind_host=host, port=port)
    except PlughostError as exc:
        _fail(exc)
    for line in app.state.plughost_banner:
        click.echo(line, err=line.startswith("WARNING"))
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "log_config": None,
        "access_log": False,
        # X-Forwarded-For is honoured only from PLUGHOST_TRUSTED_PROXIES, by the host itself;
        # uvicorn's default would trust any loopback peer.
        "proxy_headers": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
    }
    if workers == 1:
        tune_gc_for_serving()
        uvicorn.run(app, **options)
        return
    # Workers build their own app from the same settings; the parent's build above has
    # validated them and created the dev issuer's keys once, so workers share one key.
    os.environ[BIND_ENV] = f"{host}:{port}"
    if strict:
        os.environ["PLUGHOST_STRICT"] = "true"
    if allow_remote_dev_issuer:
        os.environ["PLUGHOST_AUTH__ALLOW_REMOTE_DEV_ISSUER"] = "true"
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="plughost-metrics-"))
    uvicorn.run("plughost.app:app_from_env", factory=True, workers=workers, **options)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the load report as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="Show the traceback of each failure.")
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when a plugin did not load.")
def plugins(as_json: bool, verbose: bool, allow_failures: bool) -> None:
    """Show every installed plugin, whether it loaded, and its tools.

    Exits 1 when a plugin failed, was incompatible or conflicted (unless --allow-failures), so a
    build step can stop an image whose plugins do not load.
    """
    from plughost.core.host import load_plugins

    logging.basicConfig(level="ERROR")
    try:
        settings = _settings()
        settings.strict = False
        report = load_plugins(settings)
    except PlughostError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in report.records], indent=2))
    elif not report.records:
        click.echo("no plugins installed (entry-point group 'mcp_tools')")
    else:
        for record in report.records:
            _print_record(record, verbose)
        if report.problems:
            click.echo(
                f"{len(report.problems)} plugin(s) not loaded: calls to their tools are refused "
                "as 'plugin not loaded' and audited as plugin_not_loaded"
                + ("" if verbose else "; --verbose shows each traceback"),
                err=True,
            )
    if report.problems and not allow_failures:
        sys.exit(1)


def _print_record(record: Any, verbose: bool) -> None:
    """One plugin: status, why not loaded, and each tool with its scopes and hints."""
    from plughost.core.adapter import hint_labels

    click.echo(
        f"{record.namespace:<12} {record.status.value:<12} {record.distribution} {record.version}"
    )
    if record.error:
        click.echo(f"    {record.error}")
    if record.location:
        click.echo(f"    at {record.location}")
    if verbose and record.traceback:
        click.echo("    " + record.traceback.replace("\n", "\n    "))
    for tool in record.tools:
        hints = hint_labels(tool.annotations)
        click.echo(f"    {tool.name:<40} {' '.join(tool.scopes) or '(no scopes)'}")
        click.echo(f"        hints: {', '.join(hints)}")
        for scope, when in tool.conditional_scopes.items():
            click.echo(f"        + {scope} {when}")


def _base_url(settings: Any, url: str | None) -> str:
    """The host's public base URL as `plughost token` and `plughost check` both take it.

    ``--url`` first, then the configured public URL, then (dev issuer) where the host last
    served, then the default address of ``plughost serve``.
    """
    from plughost.devissuer.keys import DevIssuer

    if url:
        return url.rstrip("/")
    if settings.auth.public_url:
        return str(settings.auth.public_url).rstrip("/")
    if settings.auth.issuer == "dev":
        remembered = DevIssuer(settings.data_dir).remembered_url()
        if remembered:
            return remembered[0]
    return "http://127.0.0.1:8000"


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
    from plughost.core.host import load_plugins
    from plughost.core.host_scopes import HOST_SCOPES
    from plughost.devissuer.keys import DevIssuer
    from plughost.settings import MCP_PATH

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
    base = _base_url(settings, url)
    plugin_scopes = sorted({s for p in load_plugins(settings).loaded for s in p.record.scopes})
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
            audience=base + MCP_PATH,
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

    from plughost.auth.issuers import resolve_issuer
    from plughost.auth.token_exchange import build_exchanger
    from plughost.core.host import load_plugins
    from plughost.devissuer.keys import embedded_issuer

    logging.basicConfig(level="ERROR")
    problems: list[str] = []
    try:
        settings = _settings(strict=False)
    except PlughostError as exc:
        _fail(exc)
    report = load_plugins(settings)
    problems += [f"plugin {r.namespace} {r.status.value}: {r.error}" for r in report.problems]
    base = _base_url(settings, url)
    dev = embedded_issuer(settings.auth, settings.data_dir)
    issuer = resolve_issuer(settings.auth, public_url=base, dev=dev)
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


@main.command()
@click.option("--subject", default=None, help="Only this subject.")
@click.option("--tool", default=None, help="Only this tool.")
@click.option(
    "--outcome",
    default=None,
    type=click.Choice([outcome.value for outcome in Outcome]),
)
@click.option("--since", default=None, help="From: ISO time or an age like 30m, 6h, 7d.")
@click.option("--until", default=None, help="Until: ISO time or an age.")
@click.option("--trace-id", default=None, help="Only the call of this OpenTelemetry trace.")
@click.option(
    "--limit", default=100, show_default=True, type=int, help="At most this many records."
)
@click.option("--summary", is_flag=True, help="Calls, failures and latency per tool and client.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def audit(
    subject: str | None,
    tool: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    trace_id: str | None,
    limit: int,
    summary: bool,
    as_json: bool,
) -> None:
    """Read the audit trail (from the database if kept there, else the audit file)."""
    from plughost.core.database import build_engine
    from plughost.ops import audit_query as trail

    try:
        settings = _settings()
        start, end = _when(since), _when(until)
    except (PlughostError, ValueError) as exc:
        _fail(PlughostError(str(exc)))
    if settings.audit.database:
        records = trail.read_database(build_engine(settings.resolved_database_url), since=start)
    elif settings.audit.file is not None and settings.audit.file.exists():
        records = trail.read_file(settings.audit.file)
    else:
        click.echo(
            "error: no audit trail to read; set PLUGHOST_AUDIT__DATABASE=true or "
            "PLUGHOST_AUDIT__SINK=file with PLUGHOST_AUDIT__FILE",
            err=True,
        )
        sys.exit(2)
    selected = trail.matching(
        records,
        subject=subject,
        tool=tool,
        outcome=outcome,
        since=start,
        until=end,
        trace_id=trace_id,
    )
    if summary:
        _print_usage(trail.summarize(selected), as_json)
        return
    shown = list(selected)[-limit:]
    for entry in shown:
        if as_json:
            click.echo(entry.model_dump_json())
        else:
            click.echo(
                f"{entry.time.isoformat(timespec='seconds')} {entry.outcome.value:<15} "
                f"{entry.tool or '-':<28} {entry.client_id or entry.subject or '-':<20} "
                f"{entry.latency_ms if entry.latency_ms is not None else '-'}"
                + (f" trace {entry.trace_id}" if entry.trace_id else "")
            )


def _print_usage(usage: dict[str, list[Any]], as_json: bool) -> None:
    """``plughost audit --summary``: calls, failures and latency per tool and per client."""
    if as_json:
        click.echo(json.dumps({k: [r.model_dump() for r in v] for k, v in usage.items()}, indent=2))
        return
    for kind, rows in usage.items():
        click.echo(f"{'per ' + kind:<32} {'calls':>7} {'failed':>7} {'p50 ms':>9} {'p95 ms':>9}")
        for row in rows:
            click.echo(
                f"{row.key:<32} {row.calls:>7} {row.failures:>7} "
                f"{_ms(row.p50_ms):>9} {_ms(row.p95_ms):>9}"
            )
        click.echo()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _when(value: str | None) -> Any:
    """An ISO timestamp, or an age such as 45s, 30m, 6h, 7d counted back from now."""
    import re
    from datetime import UTC, datetime, timedelta

    if value is None:
        return None
    match = re.fullmatch(r"(\d+)([smhd])", value)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return datetime.now(UTC) - timedelta(**{unit: int(match[1])})
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@main.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "target",
    type=click.Path(),
    default=None,
    help="Directory to create; default: ./plughost-NAME. Must not exist.",
)
def new_plugin(name: str, target: str | None) -> None:
    """Write a plugin repository NAME ready for CI: package, tests, nox, ruff, workflow, docs."""
    import shlex
    from pathlib import Path

    from plughost.scaffold import ScaffoldError, host_requirement
    from plughost.scaffold import new_plugin as scaffold

    try:
        written = scaffold(name, Path(target) if target else None)
    except ScaffoldError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    # Install into the environment this plughost runs from: it already satisfies the range.
    python = shlex.quote(sys.executable)
    click.echo(f"wrote plughost-{name} ({host_requirement()}) in {written}")
    click.echo("next:")
    click.echo(f"  cd {shlex.quote(str(written))}")
    click.echo(f"  {python} -m pip install -e '.[test]'")
    click.echo(f"  {python} -m pytest")
    click.echo("CI runs `nox` (tests against the installed host, and ruff); see README.md")


@main.group()
def db() -> None:
    """Schema migrations: where each plugin's database stands, upgrades, downgrades, revisions.

    Each plugin (and the host itself, as `plughost`) has its own line of migrations and its own
    version table. Run `plughost db upgrade` once per deploy, before new replicas serve.
    """


def _db_error(exc: Exception) -> str:
    """A database error in one line, without the URL (which may hold a password)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        return f"the database refused: {str(exc.orig).strip().splitlines()[0]}"
    return str(exc)


def _fail_db(exc: Exception) -> NoReturn:
    click.echo(f"error: {_db_error(exc)}", err=True)
    sys.exit(2)


def _tracks(namespace: str | None = None) -> tuple[Any, list[Any]]:
    """The database engine and the tracks to act on: the host's and every loaded plugin's."""
    from plughost.core import migrations
    from plughost.core.database import build_engine
    from plughost.core.host import load_plugins

    settings = _settings()
    settings.strict = False
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    report = load_plugins(settings)
    for record in report.problems:
        click.echo(f"warning: plugin {record.namespace} not loaded: {record.error}", err=True)
    tracks = [migrations.host_track(__version__)]
    tracks += [migrations.plugin_track(plugin) for plugin in report.loaded]
    if namespace is not None:
        tracks = [migrations.pick(tracks, namespace)]
    engine = build_engine(
        settings.resolved_database_url,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
        pool_timeout=settings.database_pool_timeout_seconds,
    )
    return engine, tracks


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--check", is_flag=True, help="Exit 1 unless every track is current (for init containers)."
)
def db_status(as_json: bool, check: bool) -> None:
    """Each plugin: installed version, database revision, newest revision, pending migrations."""
    from dataclasses import asdict

    from plughost.core import migrations

    try:
        engine, tracks = _tracks()
        found = [migrations.status(engine, track) for track in tracks]
    except (PlughostError, SQLAlchemyError) as exc:
        _fail_db(exc)
    if as_json:
        click.echo(json.dumps([asdict(row) for row in found], indent=2))
    else:
        _print_status(found)
    if check and any(row.state is not migrations.SchemaState.CURRENT for row in found):
        sys.exit(1)


def _print_status(found: list[Any]) -> None:
    for row in found:
        where = f"{row.revision or '-'} (newest {row.head or '-'})"
        click.echo(
            f"{row.track:<12} {row.distribution} {row.version}  {row.state.value:<8} {where}"
        )
        for line in [*row.pending, *([row.detail] if row.detail else [])]:
            click.echo(f"    {line}")


@db.command("upgrade")
@click.option(
    "--plugin", "namespace", default=None, help="Only this plugin (`plughost`: the host)."
)
def db_upgrade(namespace: str | None) -> None:
    """Run pending migrations; every track that can be upgraded is, even if another fails."""
    from plughost.core import migrations

    try:
        engine, tracks = _tracks(namespace)
    except (PlughostError, SQLAlchemyError) as exc:
        _fail_db(exc)
    failed = False
    for track in tracks:
        try:
            steps = migrations.upgrade(engine, track)
        except (PlughostError, SQLAlchemyError) as exc:
            click.echo(f"error: {track.name}: {_db_error(exc)}", err=True)
            failed = True
            continue
        for step in steps or ["already current"]:
            click.echo(f"{track.name}: {step}")
    if failed:
        sys.exit(1)


@db.command("downgrade")
@click.option("--plugin", "namespace", required=True, help="The plugin to downgrade.")
@click.argument("revision")
def db_downgrade(namespace: str, revision: str) -> None:
    """Undo a plugin's migrations down to REVISION (`base` undoes all), with its downgrades."""
    from plughost.core import migrations

    try:
        engine, (track,) = _tracks(namespace)
        steps = migrations.downgrade(engine, track, revision)
    except (PlughostError, SQLAlchemyError) as exc:
        _fail_db(exc)
    for step in steps or ["nothing to undo"]:
        click.echo(f"{track.name}: {step}")


@db.command("revision")
@click.option("--plugin", "namespace", required=True, help="The plugin the revision is for.")
@click.option("-m", "--message", required=True, help="What the revision changes, one line.")
@click.option(
    "--autogenerate",
    is_flag=True,
    help="Fill it in by comparing the plugin's tables with the (current) database; review it.",
)
def db_revision(namespace: str, message: str, autogenerate: bool) -> None:
    """Write the plugin's next revision file into its migrations package."""
    from plughost.core import migrations

    try:
        engine, (track,) = _tracks(namespace)
        path = migrations.new_revision(engine if autogenerate else None, track, message)
    except (PlughostError, SQLAlchemyError) as exc:
        _fail_db(exc)
    click.echo(f"wrote {path}")
