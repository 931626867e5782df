"""Databases for tests: SQLite in a data directory, or throwaway PostgreSQL databases.

With ``PLUGHOST_TEST_DATABASE_URL`` naming a PostgreSQL server, each test data directory gets
a fresh database there, dropped after the test, so the same tests prove a plugin on PostgreSQL.
`TestDatabase` is an empty one for a test to build what an earlier release left behind.
SQLAlchemy and the migrations are imported on use: the kit is imported by every pytest run.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plughost.testing.serving import PluginNotLoaded, not_serving

TEST_DATABASE_ENV = "PLUGHOST_TEST_DATABASE_URL"


class ThrowawayDatabases:
    """One throwaway PostgreSQL database per test data directory."""

    def __init__(self, server_url: str | None) -> None:
        self.server_url = server_url
        self._made: dict[Path, str] = {}

    @classmethod
    def from_environment(cls) -> ThrowawayDatabases:
        """On the server ``PLUGHOST_TEST_DATABASE_URL`` names; none (SQLite) without it."""
        return cls(os.environ.get(TEST_DATABASE_ENV))

    def _admin(self) -> Any:
        from sqlalchemy import create_engine

        return create_engine(str(self.server_url), isolation_level="AUTOCOMMIT")

    def for_dir(self, data_dir: Path) -> str:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        if data_dir not in self._made:
            name = f"plughost_test_{uuid.uuid4().hex[:12]}"
            engine = self._admin()
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            engine.dispose()
            self._made[data_dir] = (
                make_url(str(self.server_url))
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        return self._made[data_dir]

    def drop_all(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        if not self._made:
            return
        engine = self._admin()
        with engine.connect() as conn:
            for url in self._made.values():
                name = make_url(url).database
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@dataclass
class TestDatabase:
    """An empty database for one test, to build what an earlier release left behind.

    SQLite in ``data_dir``, or with ``PLUGHOST_TEST_DATABASE_URL`` a fresh PostgreSQL database.
    Create the old tables and rows (or run a plugin's migrations up to an old revision with
    `upgrade`), then start a host on it and see what an upgrade makes of them::

        db.upgrade("notes", "0001")
        ...insert rows as 0.1 wrote them, through db.engine...
        host = plughost_factory(plugins=["notes"], data_dir=db.data_dir, settings=db.settings)
    """

    __test__ = False  # a fixture's value, not a test class

    data_dir: Path
    url: str
    _engine: Any = None

    @property
    def settings(self) -> dict[str, Any]:
        """The host settings that point a host at this database."""
        return {"database_url": self.url}

    @property
    def engine(self) -> Any:
        """A SQLAlchemy engine on this database (disposed after the test)."""
        if self._engine is None:
            from plughost.core.database import build_engine

            self._engine = build_engine(self.url)
        return self._engine

    def upgrade(self, plugin: str, revision: str = "head") -> list[str]:
        """Run ``plugin``'s migrations (``plughost``: the host's) up to ``revision``."""
        from plughost.core import migrations

        return migrations.upgrade(self.engine, self._track(plugin), revision)

    def downgrade(self, plugin: str, revision: str) -> list[str]:
        """Undo ``plugin``'s migrations down to ``revision`` (``base``: all of them)."""
        from plughost.core import migrations

        return migrations.downgrade(self.engine, self._track(plugin), revision)

    def revision(self, plugin: str) -> str | None:
        """The revision ``plugin``'s version table records, or None before any."""
        from plughost.core import migrations

        return migrations.status(self.engine, self._track(plugin)).revision

    def _track(self, plugin: str) -> Any:
        from plughost import __version__
        from plughost.core import migrations
        from plughost.core.discovery import discover

        if plugin == migrations.HOST_TRACK:
            return migrations.host_track(__version__)
        report = discover(host_version=__version__, enabled=[plugin])
        problem = not_serving(report, [plugin])
        if problem:
            raise PluginNotLoaded(problem)
        return migrations.plugin_track(report.loaded[0])
