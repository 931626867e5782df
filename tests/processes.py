"""Real ``plughost`` processes for tests: the CLI, and ``plughost serve`` on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from plughost.testing import McpClient, free_port


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without any PLUGHOST_/SCALEKIT_/OTEL_ setting, plus a data directory."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLUGHOST_", "SCALEKIT_", "OTEL_")) or k.startswith("PLUGHOST_TEST_")
    }
    return {**env, "PLUGHOST_DATA_DIR": str(data_dir), **extra}


def isolated_faulty_env(root: Path, **extra: str) -> dict[str, str]:
    """`cli_env` for ``plughost serve`` with the test plugin ``faulty`` (isolation_faulty.py)
    installed on a path entry under ``root`` and isolated in a worker, plus ``extra``."""
    from conftest import TEST_PLUGINS, DistFactory

    site = root / "site"
    site.mkdir()
    DistFactory(site)("plughost-faulty", TEST_PLUGINS / "isolation_faulty.py", namespace="faulty")
    return cli_env(
        root / "data",
        PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        PLUGHOST_ISOLATION__FAULTY="process",
        **extra,
    )


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "plughost", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def reachable(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (PostgreSQL, Redis)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Served:
    """A running ``plughost serve`` process."""

    proc: subprocess.Popen[str]
    url: str
    env: dict[str, str]

    def token(self, scopes: str) -> str:
        done = run_cli(self.env, "token", "--scope", scopes, "--url", self.url)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def client(self, scopes: str) -> McpClient:
        return McpClient(f"{self.url}/mcp", self.token(scopes))

    def stop(self) -> tuple[str, str]:
        """SIGTERM (a graceful shutdown), then what the process printed."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=60)


def serve(
    env: dict[str, str],
    *args: str,
    port: int | None = None,
    scheme: str = "http",
    ready: str = "/healthz",
    **httpx_options: Any,
) -> Served:
    """Start ``plughost serve`` and wait until ``ready`` answers 200."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "plughost", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(proc, f"{scheme}://127.0.0.1:{port}", env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(served.url + ready, **httpx_options).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"plughost serve did not become ready:\n{proc.communicate()[1]}")
