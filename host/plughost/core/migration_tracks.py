"""A migration track: the schema one owner (a plugin, or the host) keeps in the shared database.

Each track keeps its revision in its own version table (``<track>_alembic_version``), so
plugins released on their own schedules never step on each other. A plugin ships its revision
files in a package of its own (``Plugin(migrations="plughost_crm.migrations")``); the host's are
in `plughost.core.host_migrations`. The errors of migrations live here too, beside the track
every one of them names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module, resources
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

from plughost.errors import PlughostError

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
    "plughost.core.revocations:revocations_table",
)
TEMPLATE_DIR = Path(__file__).parent / "migration_template"


class MigrationError(PlughostError):
    """A track's migrations could not be read, planned or run."""


class SchemaBehind(MigrationError):
    """The database lacks migrations the installed code needs; ``plughost db upgrade`` runs them."""


class SchemaAhead(MigrationError):
    """The database was migrated by a newer release than the one installed."""


class MigrationTimeout(MigrationError):
    """A schema check or upgrade at start-up outlasted ``PLUGHOST_MIGRATION_TIMEOUT_SECONDS``."""


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


def require_scripts(track: Track) -> ScriptDirectory:
    """The track's revision files; a `MigrationError` for a plugin that ships none."""
    scripts = track.scripts()
    if scripts is None:
        raise MigrationError(
            f"{track.label} ships no migrations: declare Plugin(migrations=...) first"
        )
    return scripts
