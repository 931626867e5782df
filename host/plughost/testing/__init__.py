"""Test kit for plugin authors: a real host on 127.0.0.1, real tokens, real HTTP.

Installed as a pytest plugin (entry point ``pytest11``), so its fixtures are available to any
project that has ``plughost`` installed. A plugin's test reads like::

    def test_list_needs_read_scope(plughost_factory):
        host = plughost_factory(plugins=["todo"])
        assert host.client(scopes=["todo:read"]).call("todo_list").ok
        refused = host.client(scopes=[]).call("todo_list")
        assert refused.status_code == 403 and refused.missing_scopes == ["todo:read"]

Every call goes through the whole stack: token verification against the dev issuer's JWKS
over HTTP, the scope gate, FastMCP's input validation, the tool, and the database.
"""

from __future__ import annotations

import difflib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import uvicorn

from plughost.core.host_scopes import HOST_SCOPES
from plughost.errors import PlughostError, PluginLoadError, SettingsError
from plughost.testing.faults import FaultProxy

__all__ = [
    "FaultProxy",
    "HostFactory",
    "LiveHost",
    "McpClient",
    "PluginLoadError",
    "PluginNotLoaded",
    "ScopeNotDeclared",
    "SettingsError",
    "TestDatabase",
    "ToolCall",
    "free_port",
]


class PluginNotLoaded(PlughostError):
    """A plugin a test asked for is not serving: not installed, or it failed to load or start.

    Raised by `plughost_factory` (the host is stopped first), so the test fails on the cause,
    not later on an unknown tool. The message names the plugin and its error, the line in the
    plugin that raised, and the traceback.
    """


class ScopeNotDeclared(PlughostError, ValueError):
    """A test asked for a token with a scope no installed plugin declares.

    ``plughost token`` refuses such a scope, and no real issuer would grant it: a test passing
    with it would prove nothing about production.
    """


PROTOCOL_VERSION = "2025-11-25"
DEFAULT_TENANT = "tenant-a"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ToolCall:
    """One ``tools/call`` as the agent saw it: HTTP status, headers and JSON-RPC body."""

    status_code: int
    headers: httpx.Headers
    body: Any

    @property
    def result(self) -> dict[str, Any]:
        return (self.body or {}).get("result") or {}

    @property
    def ok(self) -> bool:
        """HTTP 200 and a result that is not a tool error."""
        return (
            self.status_code == 200
            and "result" in (self.body or {})
            and not self.result.get("isError")
        )

    @property
    def data(self) -> Any:
        """The tool's structured output (or its error object when the tool failed)."""
        return self.result.get("structuredContent")

    @property
    def error(self) -> dict[str, Any] | None:
        """The structured tool error (``code``, ``message``, ``details``), if the tool failed."""
        if self.result.get("isError"):
            structured = self.result.get("structuredContent") or {}
            return structured.get("error") or {"code": None, "message": self.text}
        return None

    @property
    def text(self) -> str:
        return "\n".join(c.get("text", "") for c in self.result.get("content", []))

    @property
    def jsonrpc_error(self) -> dict[str, Any] | None:
        return (self.body or {}).get("error") if isinstance(self.body, dict) else None

    @property
    def missing_scopes(self) -> list[str]:
        """The scopes a 403 said were missing."""
        error = self.jsonrpc_error or {}
        return list((error.get("data") or {}).get("missing", []))


class McpClient:
    """A minimal MCP client over HTTP that keeps what real clients hide: status and headers."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        self._ids = iter(range(1, 1_000_000))

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> ToolCall:
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": PROTOCOL_VERSION,
        }
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = dict(params)
        response = httpx.post(self.url, json=message, headers=headers, timeout=30)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        return ToolCall(response.status_code, response.headers, body)

    def list_tools(self) -> list[dict[str, Any]]:
        reply = self.request("tools/list")
        assert reply.status_code == 200, f"tools/list answered {reply.status_code}: {reply.body}"
        return list(reply.result["tools"])

    def tool_names(self) -> list[str]:
        return [tool["name"] for tool in self.list_tools()]

    def call(self, tool: str, /, **arguments: Any) -> ToolCall:
        """Call ``tool`` with keyword ``arguments`` (any name, ``name`` and ``tool`` included)."""
        return self.request("tools/call", {"name": tool, "arguments": arguments})


@dataclass
class LiveHost:
    """A Plughost server running in this process on 127.0.0.1, with the dev issuer."""

    data_dir: Path
    plugins: Sequence[str] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    app: Any = None
    allow_failures: bool = False
    span_exporter: Any = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def host(self) -> Any:
        """The running `plughost.server.Host` (load report, engine, FastMCP server)."""
        return self.app.state.plughost

    def start(self) -> LiveHost:
        from plughost.edge.app import build
        from plughost.settings import load_settings

        # Audit records would flood captured test output; tests about auditing configure a sink.
        # Every start migrates, on PostgreSQL too, as a deploy's `plughost db upgrade` would.
        overrides: dict[str, Any] = {
            "data_dir": self.data_dir,
            "audit": {"sink": "off"},
            "migrate_on_start": "upgrade",
        }
        overrides.update(self.settings)
        if self.plugins is not None:
            overrides["enabled_plugins"] = list(self.plugins)
        tracing = None
        if self.span_exporter is not None:
            from plughost.ops.tracing import Tracing

            tracing = Tracing.exporting_to(self.span_exporter)
        self.app = build(load_settings(**overrides), port=self.port, tracing=tracing)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,  # as `plughost serve`: only trusted_proxies may name the client
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("plughost test server failed to start; see the log above")
            time.sleep(0.02)
        problem = None if self.allow_failures else not_serving(self.host.report, self.plugins)
        if problem:
            self.stop()
            raise PluginNotLoaded(problem)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = self._thread = None

    def restart(self) -> LiveHost:
        """Stop and start again on the same port and data directory."""
        self.stop()
        return self.start()

    def token(
        self,
        scopes: Sequence[str] = (),
        *,
        tenant: str = DEFAULT_TENANT,
        subject: str = "test-user",
        ttl: int = 600,
        **claims: Any,
    ) -> str:
        """A token from this host's dev issuer with exactly these scopes and tenant.

        A scope neither an installed plugin nor the host (``plughost:admin``) declares raises
        `ScopeNotDeclared`, as ``plughost token`` refuses it.
        """
        declared = sorted({*self.declared_scopes(), *HOST_SCOPES})
        unknown = sorted(set(scopes) - set(declared))
        if unknown:
            raise ScopeNotDeclared(
                f"neither a plugin nor the host declares scope(s) {' '.join(unknown)}; "
                f"declared: {' '.join(declared)}. Declare each in Plugin(scopes={{...}}) "
                "(`plughost token` refuses undeclared scopes too)"
            )
        issuer = self.app.state.plughost_issuer
        return str(
            issuer.dev.mint(
                issuer=self.base_url,
                audience=self.mcp_url,
                scopes=list(scopes),
                subject=subject,
                tenant=tenant,
                ttl=ttl,
                extra=claims or None,
            )
        )

    def client(
        self,
        scopes: Sequence[str] | None = None,
        *,
        tenant: str = DEFAULT_TENANT,
        subject: str = "test-user",
        token: str | None = None,
    ) -> McpClient:
        """An MCP client whose token carries ``scopes`` (default: every declared scope)."""
        if token is None:
            if scopes is None:
                scopes = self.declared_scopes()
            token = self.token(scopes, tenant=tenant, subject=subject)
        return McpClient(self.mcp_url, token)

    def anonymous(self) -> McpClient:
        """A client that sends no token at all."""
        return McpClient(self.mcp_url, None)

    def declared_scopes(self) -> list[str]:
        """Every scope the installed plugins declare, sorted: what tokens may carry.

        A plugin withdrawn because its start-up failed still counts, as for ``plughost token``.
        """
        return sorted({scope for record in self.host.report.records for scope in record.scopes})


def not_serving(report: Any, requested: Sequence[str] | None) -> str | None:
    """Why plugins a test named are not serving, or None when all of them are (or none named)."""
    records = {r.namespace: r for r in report.records}
    problems = []
    for name in requested or ():
        record = records.get(name)
        if record is None:
            problems.append(_not_installed(name, sorted(records)))
        elif record.status != "loaded":
            problems.append(_did_not_load(record))
    return "\n\n".join(problems) or None


def _not_installed(name: str, installed: list[str]) -> str:
    close = difflib.get_close_matches(name, installed, n=1)
    return (
        f"no plugin {name!r} is installed; installed: {', '.join(installed) or 'none'}"
        + (f" (did you mean {close[0]!r}?)" if close else "")
        + ". A plugin is a distribution with an [project.entry-points.mcp_tools] entry; "
        "install its project (pip install -e .) in the environment running the tests"
    )


def _did_not_load(record: Any) -> str:
    lines = [
        f"plugin {record.namespace!r} ({record.distribution} {record.version}) did not load "
        f"({record.status.value}): {record.error}"
    ]
    if record.location:
        lines.append(f"  at {record.location}")
    lines.append(
        "Calls to its tools are refused as 'plugin not loaded'; to test that on purpose, "
        "pass allow_failures=True to plughost_factory."
    )
    if record.traceback:
        lines.append(record.traceback)
    return "\n".join(lines)


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
    ) -> LiveHost: ...


@pytest.fixture
def plughost_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostFactory]:
    """Start hosts for a test: ``plughost_factory(plugins=["todo"], settings={...})``.

    Each host gets a fresh data directory (its own SQLite database and dev keys) unless
    ``data_dir`` is given, and a free port unless ``port`` is (settings such as
    ``auth.public_url`` may need to know it); all are stopped when the test ends. A named
    plugin that is not serving raises `PluginNotLoaded` with its load error, unless
    ``allow_failures`` (for tests of that very failure). With ``span_exporter`` (an
    OpenTelemetry SDK exporter, such as ``InMemorySpanExporter()``) the host traces its calls
    and hands every span to it.

    With ``PLUGHOST_TEST_DATABASE_URL`` set to a PostgreSQL server
    (``postgresql+psycopg://postgres@127.0.0.1:5432/test``), each data directory gets a fresh
    database on that server instead of SQLite, dropped after the test: the same tests then
    prove the plugin works on PostgreSQL.
    """
    started: list[LiveHost] = []
    databases = _TestDatabases(os.environ.get(TEST_DATABASE_ENV))

    def factory(
        plugins: Sequence[str] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        data_dir: Path | None = None,
        port: int | None = None,
        allow_failures: bool = False,
        span_exporter: Any = None,
    ) -> LiveHost:
        data_dir = data_dir or tmp_path_factory.mktemp("plughost")
        settings = dict(settings or {})
        if databases.server_url and "database_url" not in settings:
            settings["database_url"] = databases.for_dir(data_dir)
        host = LiveHost(
            data_dir=data_dir,
            plugins=plugins,
            settings=settings,
            port=port or free_port(),
            allow_failures=allow_failures,
            span_exporter=span_exporter,
        )
        started.append(host)
        host.start()
        return host

    yield factory
    for host in started:
        host.stop()
    databases.drop_all()


TEST_DATABASE_ENV = "PLUGHOST_TEST_DATABASE_URL"


class _TestDatabases:
    """One throwaway PostgreSQL database per test data directory."""

    def __init__(self, server_url: str | None) -> None:
        self.server_url = server_url
        self._made: dict[Path, str] = {}

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


@pytest.fixture
def plughost_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    """An empty `TestDatabase`: SQLite, or PostgreSQL with ``PLUGHOST_TEST_DATABASE_URL``."""
    from plughost.settings import default_database_url

    data_dir = tmp_path_factory.mktemp("plughost-db")
    databases = _TestDatabases(os.environ.get(TEST_DATABASE_ENV))
    url = databases.for_dir(data_dir) if databases.server_url else default_database_url(data_dir)
    database = TestDatabase(data_dir=data_dir, url=url)
    yield database
    if database._engine is not None:
        database._engine.dispose()
    databases.drop_all()
