"""Schema migrations on Alembic: one track per plugin and one for the host's own tables.

Each track keeps its revision in its own version table (``<track>_alembic_version``), so
plugins released on their own schedules never step on each other. A plugin ships its revision
files in a package of its own (``Plugin(migrations="plughost_crm.migrations")``); the host's are
in `plughost.core.host_migrations`. A plugin without migrations keeps the older rule of
`plughost.core.schema`: its declared tables are created and new nullable columns added.

Every upgrade, downgrade or stamp runs in one transaction that first takes the migration lock:
a PostgreSQL advisory lock, or SQLite's write lock (``BEGIN IMMEDIATE``). Replicas starting
together therefore take turns, and each reads the version table only once it holds the lock, so
a migration never runs twice. A database that ``ensure_schema`` made before a track had
migrations (its tables exist, its version table does not) is adopted: stamped at the track's
first revision, its baseline, and upgraded from there.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import import_module, resources
from pathlib import Path
from typing import Any, TypedDict

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, inspect

from plughost.core.migration_lock import locked
from plughost.core.schema import apply_declared, declared_changes
from plughost.errors import PlughostError

log = logging.getLogger("plughost.migrations")

#: The host's own track: its tables are named ``plughost_*``.
HOST_TRACK = "plughost"
HOST_MIGRATIONS = "plughost.core.host_migrations"
#: The host's tables, as ``module:attribute`` naming a `Table` or a `MetaData` of tables. Adding
#: host tables is one line here and a revision (``plughost db revision --plugin plughost -m ...
#: --autogenerate``).
HOST_TABLES: tuple[str, ...] = (
    "plughost.ops.audit:audit_table",
    "plughost.core.host_keys:keys_table",
    "plughost.devissuer.store:oauth_metadata",
)
TEMPLATE_DIR = Path(__file__).parent / "migration_template"
CREATE_TABLE = re.compile(r'CREATE TABLE (?:IF NOT EXISTS )?"?(\w+)"?')


class MigrationError(PlughostError):
    """A track's migrations could not be read, planned or run."""


class SchemaBehind(MigrationError):
    """The database lacks migrations the installed code needs; ``plughost db upgrade`` runs them."""


class SchemaAhead(MigrationError):
    """The database was migrated by a newer release than the one installed."""


class MigrationTimeout(MigrationError):
    """A schema check or upgrade at start-up outlasted ``PLUGHOST_MIGRATION_TIMEOUT_SECONDS``."""


class SchemaState(StrEnum):
    CURRENT = "current"
    BEHIND = "behind"
    AHEAD = "ahead"


@dataclass(frozen=True)
class Track:
    """The schema one owner (a plugin, or the host) keeps in the shared database."""

    name: str
    distribution: str
    version: str
    metadata: MetaData
    package: str | None = None

    @property
    def version_table(self) -> str:
        return f"{self.name}_alembic_version"

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.version}"

    def owns(self, table: str) -> bool:
        """Tables of this track: the owner's prefix, its version table left out."""
        return table.startswith(f"{self.name}_") and table != self.version_table

    def location(self) -> Path | None:
        """The directory of revision files, or None for a plugin without migrations."""
        if self.package is None:
            return None
        try:
            found = resources.files(self.package)
        except ModuleNotFoundError as exc:
            raise MigrationError(
                f"{self.label} names migrations package {self.package!r}, which cannot be "
                f"imported ({exc}); it must be a package (with __init__.py) inside the plugin"
            ) from None
        path = Path(str(found))
        if not path.is_dir():
            raise MigrationError(
                f"{self.label}: migrations package {self.package!r} is not a directory on disk "
                "(zipped installs are not supported); install the plugin unzipped"
            )
        return path

    def scripts(self) -> ScriptDirectory | None:
        location = self.location()
        if location is None:
            return None
        return ScriptDirectory(
            str(TEMPLATE_DIR), version_locations=[str(location)], messaging_opts={"quiet": True}
        )


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


def host_track(version: str) -> Track:
    """The host's own track, over every table in `HOST_TABLES`."""
    metadata = MetaData()
    for ref in HOST_TABLES:
        module, _, attribute = ref.partition(":")
        found = getattr(import_module(module), attribute)
        for table in found.tables.values() if isinstance(found, MetaData) else [found]:
            table.to_metadata(metadata)
    return Track(HOST_TRACK, "plughost", version, metadata, HOST_MIGRATIONS)


def plugin_track(plugin: Any) -> Track:
    """A loaded plugin's track: its declared tables and, if it ships them, its migrations."""
    metadata = MetaData()
    for table in plugin.tables:
        table.to_metadata(metadata)
    package = plugin.manager.hook.plughost_migrations()
    distribution = plugin.record.distribution or plugin.namespace
    return Track(plugin.namespace, distribution, plugin.version, metadata, package)


def pick(tracks: Sequence[Track], name: str) -> Track:
    """The track called ``name``; an unknown name lists the ones there are."""
    for track in tracks:
        if track.name == name:
            return track
    names = ", ".join(t.name for t in tracks)
    raise MigrationError(f"no loaded plugin {name!r}; tracks here: {names}")


# --- reading where a track stands -------------------------------------------------------------


def status(engine: Engine, track: Track) -> TrackStatus:
    """Where ``track`` stands in the database, read without taking the lock."""
    with engine.connect() as conn:
        return _status(conn, track)


def _status(conn: Connection, track: Track) -> TrackStatus:
    scripts = track.scripts()
    if scripts is None:
        return _declared_status(conn, track)
    head = _single_head(scripts, track)
    current = _current(conn, track)
    base = TrackStatus(
        track.name, track.distribution, track.version, SchemaState.CURRENT, current, head
    )
    if current is None and head is not None:
        base.state = SchemaState.BEHIND
        base.pending = [_describe(s) for s in _path(scripts, head, None)]
        if _adoptable(conn, track, scripts):
            base.detail = "tables made before migrations: adopted at the baseline on upgrade"
        return base
    if current is None:
        return base  # no revision written yet, none applied: nothing to run, nothing unknown
    if not _known(scripts, current):
        base.state = SchemaState.AHEAD
        base.detail = ahead_message(track, current, head)
        return base
    base.pending = [_describe(s) for s in _path(scripts, head, current)]
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


def _current(conn: Connection, track: Track) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": track.version_table})
    heads = context.get_current_heads()
    if len(heads) > 1:
        raise MigrationError(
            f"{track.version_table} holds several revisions {list(heads)}; one line of "
            "migrations per track is supported"
        )
    return heads[0] if heads else None


def _single_head(scripts: ScriptDirectory, track: Track) -> str | None:
    heads = scripts.get_heads()
    if len(heads) > 1:
        raise MigrationError(
            f"{track.label} has several newest revisions {sorted(heads)}: give one of them "
            "the other as down_revision so its migrations form one line"
        )
    return heads[0] if heads else None


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def _path(scripts: ScriptDirectory, head: str | None, current: str | None) -> list[Script]:
    if head is None or head == current:
        return []
    return list(reversed(list(scripts.iterate_revisions(head, current or "base"))))


def _describe(script: Script) -> str:
    return f"{script.revision} {script.doc}".strip()


# --- changing the schema ----------------------------------------------------------------------


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
        current = _current(conn, track)
        if current is not None and not _known(scripts, current):
            raise SchemaAhead(ahead_message(track, current, _single_head(scripts, track)))
        return steps + _run(conn, track, scripts, lambda rev: scripts._upgrade_revs(target, rev))


def downgrade(engine: Engine, track: Track, target: str) -> list[str]:
    """Undo ``track``'s migrations down to ``target`` (a revision, or ``base``); the steps run."""
    scripts = _require_scripts(track)
    with locked(engine) as conn:
        return _run(conn, track, scripts, lambda rev: scripts._downgrade_revs(target, rev))


def stamp(engine: Engine, track: Track, target: str) -> None:
    """Record ``target`` as ``track``'s revision without running anything."""
    scripts = _require_scripts(track)
    with locked(engine) as conn:
        _run(conn, track, scripts, lambda rev: scripts._stamp_revs(target, rev))


def _adopt(conn: Connection, track: Track, scripts: ScriptDirectory) -> list[str]:
    """Stamp a database ``ensure_schema`` made at the baseline, the track's first revision.

    Only the baseline's own tables count: a table a later revision creates may exist before
    migrations ran (code that makes its table on first use), and is no sign of an old database.
    """
    base = _adoptable(conn, track, scripts)
    if base is None:
        return []
    _run(conn, track, scripts, lambda rev: scripts._stamp_revs(base, rev))
    log.info("%s: tables made before migrations adopted at baseline %s", track.name, base)
    return [f"adopted existing tables at baseline {base}"]


def _adoptable(conn: Connection, track: Track, scripts: ScriptDirectory) -> str | None:
    """The baseline to stamp: the track has no revision yet, but its baseline's tables exist."""
    bases = scripts.get_bases()
    if _current(conn, track) is not None or not bases:
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


def _require_scripts(track: Track) -> ScriptDirectory:
    scripts = track.scripts()
    if scripts is None:
        raise MigrationError(
            f"{track.label} ships no migrations: declare Plugin(migrations=...) first"
        )
    return scripts


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
        done.append(f"{verb} {_describe(step.up_revision)}")

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


# --- writing a revision -----------------------------------------------------------------------


def new_revision(engine: Engine | None, track: Track, message: str) -> Path:
    """Write the next revision file into the track's package; with ``engine``, autogenerated.

    Autogenerate compares the database (which must be at the newest revision) with the tables
    the plugin declares, looking only at the plugin's own tables. Review what it writes: a
    rename comes out as a drop and an add, and data never moves by itself.
    """
    scripts = _require_scripts(track)
    head = _single_head(scripts, track)
    body: _Rendered = {}
    if engine is not None:
        body = _autogenerate(engine, track, head)
    number = len(list(scripts.walk_revisions()))
    made = scripts.generate_revision(f"{number + 1:04d}", message, head=head or "base", **body)
    if made is None:
        raise MigrationError(f"no revision was written for {track.name}")
    return Path(made.path)


class _Rendered(TypedDict, total=False):
    """The template's variables for an autogenerated revision; named, so that they cannot land
    on one of `ScriptDirectory.generate_revision`'s own parameters."""

    upgrades: str
    downgrades: str


def _autogenerate(engine: Engine, track: Track, head: str | None) -> _Rendered:
    with engine.connect() as conn:
        current = _current(conn, track)
        if current != head:
            raise SchemaBehind(
                f"the database of {track.name} is at {current or 'no revision'}, not at the "
                f"newest revision {head}: run `plughost db upgrade --plugin {track.name}` first"
            )
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": track.version_table,
                "target_metadata": track.metadata,
                "include_name": _own_tables(track),
                "compare_type": True,
                "render_as_batch": True,
                "user_module_prefix": "plughost.",
            },
        )
        script = produce_migrations(context, track.metadata)
    options = {
        "render_as_batch": True,
        "user_module_prefix": "plughost.",
        "migration_context": context,
    }
    return {
        "upgrades": render_python_code(script.upgrade_ops, **options),  # type: ignore[arg-type]
        "downgrades": render_python_code(script.downgrade_ops, **options),  # type: ignore[arg-type]
    }


def _own_tables(track: Track) -> Callable[..., bool]:
    def include(name: str | None, kind: str, _parents: Any) -> bool:
        return kind != "table" or (name is not None and track.owns(name))

    return include
