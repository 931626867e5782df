"""The kit's two fixtures, `plughost_factory` and `plughost_database`, and `HostFactory`.

`plughost.testing` (the ``pytest11`` entry point) re-exports them, which is how pytest finds
them in every project that has ``plughost`` installed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from plughost.testing.databases import TestDatabase, ThrowawayDatabases
from plughost.testing.live_host import LiveHost, free_port


class HostFactory(Protocol):
    """What the `plughost_factory` fixture gives a test; annotate the fixture with it for types."""

    def __call__(
        self,
        plugins: Sequence[str] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        data_dir: Path | None = None,
        port: int | None = None,
        allow_failures: bool = False,
        span_exporter: Any = None,
        clock: Callable[[], float] | None = None,
        in_process: bool = False,
    ) -> LiveHost: ...


#: The factory's parameters: its arguments are bound to `HostFactory`, so the two cannot differ.
_FACTORY = inspect.signature(HostFactory.__call__)


@pytest.fixture
def plughost_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostFactory]:
    """Start hosts for a test: ``plughost_factory(plugins=["todo"], settings={...})``.

    Each host gets a fresh data directory (its own SQLite database and dev keys) unless
    ``data_dir`` is given, and a free port unless ``port`` is (settings such as
    ``auth.public_url`` may need to know it); all are stopped when the test ends. A named
    plugin that is not serving raises `PluginNotLoaded` with its load error, unless
    ``allow_failures`` (for tests of that very failure). With ``span_exporter`` (an
    OpenTelemetry SDK exporter, such as ``InMemorySpanExporter()``) the host traces its calls
    and hands every span to it. With ``clock`` (a function returning seconds, as
    `time.monotonic`) the host times its issuer key cache's refresh and refetch intervals by
    it, so a test advances it instead of sleeping past them. With ``in_process`` the host runs
    on no socket: its app is driven through Starlette's test client (`LiveHost.in_process`).

    With ``PLUGHOST_TEST_DATABASE_URL`` set to a PostgreSQL server
    (``postgresql+psycopg://postgres@127.0.0.1:5432/test``), each data directory gets a fresh
    database on that server instead of SQLite, dropped after the test: the same tests then
    prove the plugin works on PostgreSQL.
    """
    started: list[LiveHost] = []
    databases = ThrowawayDatabases.from_environment()

    def factory(*args: Any, **kwargs: Any) -> LiveHost:
        bound = _FACTORY.bind(factory, *args, **kwargs)  # the factory is the protocol's self
        bound.apply_defaults()
        given = bound.arguments
        data_dir = given["data_dir"] or tmp_path_factory.mktemp("plughost")
        settings = dict(given["settings"] or {})
        if databases.server_url and "database_url" not in settings:
            settings["database_url"] = databases.for_dir(data_dir)
        host = LiveHost(
            data_dir=data_dir,
            plugins=given["plugins"],
            settings=settings,
            port=given["port"] or free_port(),
            allow_failures=given["allow_failures"],
            span_exporter=given["span_exporter"],
            clock=given["clock"],
            in_process=given["in_process"],
        )
        started.append(host)
        host.start()
        return host

    yield factory
    for host in started:
        host.stop()
    databases.drop_all()


@pytest.fixture
def plughost_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    """An empty `TestDatabase`: SQLite, or PostgreSQL with ``PLUGHOST_TEST_DATABASE_URL``."""
    from plughost.settings import default_database_url

    data_dir = tmp_path_factory.mktemp("plughost-db")
    databases = ThrowawayDatabases.from_environment()
    url = databases.for_dir(data_dir) if databases.server_url else default_database_url(data_dir)
    database = TestDatabase(data_dir=data_dir, url=url)
    yield database
    if database._engine is not None:
        database._engine.dispose()
    databases.drop_all()
