"""Where a migration track stands: its revision in the database against its newest file.

Read without the migration lock (`plughost db status`, the start-up check), and by the
upgrade once it holds the lock. A plugin without migrations stands where
`plughost.core.schema` says: its declared tables and nullable columns, present or missing. A
database that ``ensure_schema`` made before a track had migrations (its baseline's tables
exist, its version table does not) is adoptable: the upgrade stamps it at that baseline.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect

from plughost.core.migration_tracks import MigrationError, Track
from plughost.core.schema import declared_changes

CREATE_TABLE = re.compile(r'CREATE TABLE (?:IF NOT EXISTS )?"?(\w+)"?')


class SchemaState(StrEnum):
    CURRENT = "current"
    BEHIND = "behind"
    AHEAD = "ahead"


@dataclass
class TrackStatus:
    """Where one track's schema stands: what `plughost db status` prints for it."""

    track: str
    distribution: str
    version: str
    state: SchemaState
    revision: str | None
    head: str | None
    pending: list[str] = field(default_factory=list)
    detail: str = ""


def status(engine: Engine, track: Track) -> TrackStatus:
    """Where ``track`` stands in the database, read without taking the lock."""
    with engine.connect() as conn:
        return _status(conn, track)


def _status(conn: Connection, track: Track) -> TrackStatus:
    scripts = track.scripts()
    if scripts is None:
        return _declared_status(conn, track)
    head = single_head(scripts, track)
    current = current_revision(conn, track)
    base = TrackStatus(
        track.name, track.distribution, track.version, SchemaState.CURRENT, current, head
    )
    if current is None and head is not None:
        base.state = SchemaState.BEHIND
        base.pending = [describe(s) for s in _path(scripts, head, None)]
        if adoptable(conn, track, scripts):
            base.detail = "tables made before migrations: adopted at the baseline on upgrade"
        return base
    if current is None:
        return base  # no revision written yet, none applied: nothing to run, nothing unknown
    if not known(scripts, current):
        base.state = SchemaState.AHEAD
        base.detail = ahead_message(track, current, head)
        return base
    base.pending = [describe(s) for s in _path(scripts, head, current)]
    if base.pending:
        base.state = SchemaState.BEHIND
    return base


def ahead_message(track: Track, current: str | None, head: str | None) -> str:
    return (
        f"the database is at revision {current} of {track.name}, which {track.label} does not "
        f"know (its newest is {head or 'none'}): a newer release migrated it. Install that "
        f"release again, or with it run `plughost db downgrade --plugin {track.name} "
        f"{head or 'base'}` before installing {track.label}"
    )


def behind_message(found: TrackStatus) -> str:
    where = found.revision or "no revision"
    return (
        f"the database of {found.track} is at {where}; {found.distribution} {found.version} "
        f"needs {found.head or 'its declared tables'} ({len(found.pending)} pending: "
        f"{'; '.join(found.pending)}). Run `plughost db upgrade --plugin {found.track}` "
        "(PLUGHOST_MIGRATE_ON_START=upgrade does it at start)"
    )


def _declared_status(conn: Connection, track: Track) -> TrackStatus:
    changes = declared_changes(conn, list(track.metadata.sorted_tables))
    return TrackStatus(
        track.name,
        track.distribution,
        track.version,
        SchemaState.BEHIND if changes else SchemaState.CURRENT,
        revision=None,
        head=None,
        pending=changes,
        detail="no migrations: declared tables and nullable columns only",
    )


def current_revision(conn: Connection, track: Track) -> str | None:
    """The revision ``track``'s version table records, or None before any."""
    context = MigrationContext.configure(conn, opts={"version_table": track.version_table})
    heads = context.get_current_heads()
    return _one(
        heads,
        f"{track.version_table} holds several revisions {list(heads)}; one line of "
        "migrations per track is supported",
    )


def single_head(scripts: ScriptDirectory, track: Track) -> str | None:
    """The newest revision file of ``track``, or None when it has none yet."""
    heads = scripts.get_heads()
    return _one(
        heads,
        f"{track.label} has several newest revisions {sorted(heads)}: give one of them "
        "the other as down_revision so its migrations form one line",
    )


def _one(revisions: Sequence[str], several: str) -> str | None:
    """The one revision of ``revisions`` (None for none): a track's migrations form one line."""
    if len(revisions) > 1:
        raise MigrationError(several)
    return revisions[0] if revisions else None


def known(scripts: ScriptDirectory, revision: str) -> bool:
    """Whether ``revision`` is one of the track's files (a newer release's is not)."""
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def _path(scripts: ScriptDirectory, head: str | None, current: str | None) -> list[Script]:
    if head is None or head == current:
        return []
    return list(reversed(list(scripts.iterate_revisions(head, current or "base"))))


def describe(script: Script) -> str:
    """A revision as the status and the upgrade's log name it: its id and message."""
    return f"{script.revision} {script.doc}".strip()


def adoptable(conn: Connection, track: Track, scripts: ScriptDirectory) -> str | None:
    """The baseline to stamp: the track has no revision yet, but its baseline's tables exist.

    Only the baseline's own tables count: a table a later revision creates may exist before
    migrations ran (code that makes its table on first use), and is no sign of an old database.
    """
    bases = scripts.get_bases()
    if current_revision(conn, track) is not None or not bases:
        return None
    existing = set(inspect(conn).get_table_names())
    return bases[0] if existing & baseline_tables(scripts, bases[0], conn.dialect.name) else None


def baseline_tables(scripts: ScriptDirectory, base: str, dialect: str) -> set[str]:
    """The tables revision ``base`` creates, read from the SQL it renders without a database."""
    rendered = io.StringIO()
    context = MigrationContext.configure(
        dialect_name=dialect, opts={"as_sql": True, "output_buffer": rendered}
    )
    script = scripts.get_revision(base)
    if script is None:
        return set()
    with Operations.context(context):
        script.module.upgrade()
    return set(CREATE_TABLE.findall(rendered.getvalue()))
