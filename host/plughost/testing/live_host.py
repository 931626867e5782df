"""`LiveHost`: a Plughost server running in this process on 127.0.0.1, with the dev issuer.

The server is uvicorn on a thread of the test's process, so a test reaches into it (its load
report, its engine) while every call still goes over real HTTP with a real token. With
``in_process=True`` there is no server and no socket: Starlette's test client runs the app's
lifespan and hands each request to the app directly, which is faster and has fewer moving
parts, for the many tests about what the host decides rather than how bytes travel. The app,
its tokens and its checks are the same; the dev issuer's keys are read in-process in both.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.testclient import TestClient

from plughost.core.host_scopes import HOST_SCOPES
from plughost.errors import PlughostError
from plughost.settings import resource_url
from plughost.testing.client import McpClient
from plughost.testing.serving import PluginNotLoaded, not_serving


class ScopeNotDeclared(PlughostError, ValueError):
    """A test asked for a token with a scope no installed plugin declares.

    ``plughost token`` refuses such a scope, and no real issuer would grant it: a test passing
    with it would prove nothing about production.
    """


DEFAULT_TENANT = "tenant-a"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    #: The host's monotonic clock (its issuer key cache's intervals); a test of those
    #: intervals passes one it advances instead of sleeping.
    clock: Callable[[], float] | None = None
    #: Drive the app through Starlette's test client rather than a server on ``port``.
    in_process: bool = False
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _client: TestClient | None = None
    _http: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return resource_url(self.base_url)

    @property
    def host(self) -> Any:
        """The running `plughost.server.Host` (load report, engine, FastMCP server)."""
        return self.app.state.plughost

    def start(self) -> LiveHost:
        from plughost.app import build
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
        self.app = build(
            load_settings(**overrides),
            port=self.port,
            tracing=tracing,
            clock=self.clock or time.monotonic,
        )
        if self.in_process:
            self._client = _in_process_client(self.app, self.base_url)
        else:
            self._serve()
        problem = None if self.allow_failures else not_serving(self.host.report, self.plugins)
        if problem:
            self.stop()
            raise PluginNotLoaded(problem)
        return self

    def _serve(self) -> None:
        """Serve the app with uvicorn on a thread, returning once it listens."""
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

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        if self._client is not None:
            self._client.__exit__(None, None, None)  # runs the app's shutdown
        if self._http is not None:
            self._http.close()
        self._server = self._thread = self._client = self._http = None

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
        return McpClient(self.mcp_url, token, http=self._client)

    def anonymous(self) -> McpClient:
        """A client that sends no token at all."""
        return McpClient(self.mcp_url, None, http=self._client)

    @property
    def http(self) -> httpx.Client | TestClient:
        """An HTTP client to this host, for requests other than `client`'s MCP calls
        (``host.http.get("/healthz")``): over a socket, or in-process, as the host runs."""
        if self._client is not None:
            return self._client
        if self._http is None:
            self._http = httpx.Client(base_url=self.base_url, timeout=30)
        return self._http

    def declared_scopes(self) -> list[str]:
        """Every scope the installed plugins and the mounts declare, sorted: what tokens may
        carry.

        A plugin withdrawn because its start-up failed still counts, as for ``plughost token``.
        """
        plugins = {scope for record in self.host.report.records for scope in record.scopes}
        mounts = {scope for m in self.host.settings.mounts.values() for scope in m.scopes}
        return sorted(plugins | mounts)


def _in_process_client(app: Any, base_url: str) -> TestClient:
    """Starlette's test client for ``app``, its lifespan started, answering as a server would:
    requests name the host's own origin (the Origin and Host checks pass as on 127.0.0.1), come
    from a loopback address, see a 500 rather than the app's exception, and are not redirected
    (as `httpx.post` is not)."""
    client = TestClient(
        app,
        base_url=base_url,
        raise_server_exceptions=False,
        follow_redirects=False,
        client=("127.0.0.1", 50000),
    )
    client.__enter__()
    return client
