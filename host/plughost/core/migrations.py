"""Schema migrations on Alembic: one track per plugin and one for the host's own tables.

A track (`plughost.core.migration_tracks`) keeps its revision in a version table of its own;
where it stands is read by `plughost.core.migration_status`, and its next revision file written
by `plughost.core.migration_revisions`. This module changes the schema, and is the one place the
rest of the host imports migrations from (the names of those modules are re-exported here). A
plugin without migrations keeps the older rule of `plughost.core.schema`: its declared tables
are created and new nullable columns added.

Every upgrade, downgrade or stamp runs in one transaction that first takes the migration lock:
a PostgreSQL advisory lock, or SQLite's write lock (``BEGIN IMMEDIATE``). Replicas starting
together therefore take turns, and each reads the version table only once it holds the lock, so
a migration never runs twice. A database that ``ensure_schema`` made before a track had
migrations (its tables exist, its version table does not) is adopted: stamped at the track's
first revision, its baseline, and upgraded from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from plughost.core.migration_lock import locked
from plughost.core.migration_revisions import new_revision
from plughost.core.migration_status import (
    SchemaState,
    TrackStatus,
    adoptable,
    ahead_message,
    baseline_tables,
    behind_message,
    current_revision,
    describe,
    known,
    single_head,
    status,
)
from plughost.core.migration_tracks import (
    HOST_MIGRATIONS,
    HOST_TABLES,
    HOST_TRACK,
    TEMPLATE_DIR,
    MigrationError,
    MigrationTimeout,
    SchemaAhead,
    SchemaBehind,
    Track,
    host_track,
    pick,
    plugin_track,
    require_scripts,
)
from plughost.core.schema import apply_declared

__all__ = [
    "HOST_MIGRATIONS",
    "HOST_TABLES",
    "HOST_TRACK",
    "TEMPLATE_DIR",
    "MigrationError",
    "MigrationTimeout",
    "SchemaAhead",
    "SchemaBehind",
    "SchemaState",
    "Track",
    "TrackStatus",
    "ahead_message",
    "baseline_tables",
    "behind_message",
    "downgrade",
    "host_track",
    "make_ready",
    "new_revision",
    "pick",
    "plugin_track",
    "stamp",
    "status",
    "upgrade",
]

log = logging.getLogger("plughost.migrations")


def make_ready(engine: Engine, track: Track, *, migrate: bool) -> list[str]:
    """Ready ``track`` to serve: upgrade it (``migrate``), or only check it is current.

    Raises `SchemaAhead` for a database a newer release migrated, and, when not migrating,
    `SchemaBehind` for one that lacks migrations; returns the steps run.
    """
    if migrate:
        return upgrade(engine, track)
    found = status(engine, track)
    if found.state is SchemaState.AHEAD:
        raise SchemaAhead(found.detail)
    if found.state is SchemaState.BEHIND:
        raise SchemaBehind(behind_message(found))
    return []


def upgrade(engine: Engine, track: Track, target: str = "head") -> list[str]:
    """Bring ``track`` to ``target`` (adopting a database made before migrations); the steps run."""
    with locked(engine) as conn:
        scripts = track.scripts()
        if scripts is None:
            return apply_declared(conn, list(track.metadata.sorted_tables))
        steps = _adopt(conn, track, scripts)
        current = current_revision(conn, track)
        if current is not None and not known(scripts, current):
            raise SchemaAhead(ahead_message(track, current, single_head(scripts, track)))
        return steps + _run(conn, track, scripts, lambda rev: scripts._upgrade_revs(target, rev))


def downgrade(engine: Engine, track: Track, target: str) -> list[str]:
    """Undo ``track``'s migrations down to ``target`` (a revision, or ``base``); the steps run."""
    scripts = require_scripts(track)
    with locked(engine) as conn:
        return _run(conn, track, scripts, lambda rev: scripts._downgrade_revs(target, rev))


def stamp(engine: Engine, track: Track, target: str) -> None:
    """Record ``target`` as ``track``'s revision without running anything."""
    scripts = require_scripts(track)
    with locked(engine) as conn:
        _run(conn, track, scripts, lambda rev: scripts._stamp_revs(target, rev))


def _adopt(conn: Connection, track: Track, scripts: ScriptDirectory) -> list[str]:
    """Stamp a database ``ensure_schema`` made at the baseline, the track's first revision."""
    base = adoptable(conn, track, scripts)
    if base is None:
        return []
    _run(conn, track, scripts, lambda rev: scripts._stamp_revs(base, rev))
    log.info("%s: tables made before migrations adopted at baseline %s", track.name, base)
    return [f"adopted existing tables at baseline {base}"]


def _run(
    conn: Connection,
    track: Track,
    scripts: ScriptDirectory,
    plan: Callable[[Any], Sequence[Any]],
) -> list[str]:
    done: list[str] = []

    def record(*, step: Any, **_: Any) -> None:
        if step.is_stamp:
            return
        verb = "upgraded to" if step.is_upgrade else "downgraded from"
        done.append(f"{verb} {describe(step.up_revision)}")

    context = MigrationContext.configure(
        conn,
        opts={
            "version_table": track.version_table,
            "fn": lambda rev, _context: plan(rev),
            "script": scripts,
            "target_metadata": track.metadata,
            "render_as_batch": True,
            "on_version_apply": [record],
        },
    )
    with Operations.context(context):
        context.run_migrations()
    for line in done:
        log.info("%s: %s", track.name, line)
    return done
