"""``plughost db``: schema migrations, a track per plugin and one for the host.

Every subcommand acts on the same tracks (`_tracks`) and reports a database error in one line
without the URL, which may hold a password.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from plughost import __version__
from plughost.cli.common import command_settings
from plughost.errors import PlughostError


@click.group()
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


def _tracks(namespace: str | None = None) -> tuple[Engine, list[Any]]:
    """The database engine and the tracks to act on: the host's and every loaded plugin's."""
    from plughost.core import migrations
    from plughost.core.database import build_engine
    from plughost.core.host import load_plugins

    settings = command_settings()
    settings.strict = False
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    report = load_plugins(settings)
    for record in report.problems:
        click.echo(f"warning: plugin {record.namespace} not loaded: {record.error}", err=True)
    tracks = [migrations.host_track(__version__)]
    tracks += [migrations.plugin_track(p) for p in report.loaded if not p.isolated]
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
