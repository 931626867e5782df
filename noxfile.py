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

nox.options.sessions = ["host", *(f"plugin-{name}" for name in PLUGINS), "lint"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True


@nox.session(python="3.11")
def host(session: nox.Session) -> None:
    """The host's own tests, including end-to-end runs with the bundled plugins."""
    session.install(".[test,postgres,redis]", *(f"./plugins/{name}" for name in PLUGINS))
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
def lint(session: nox.Session) -> None:
    """ruff over everything."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def serve(session: nox.Session) -> None:
    """Run the host with the bundled plugins on 127.0.0.1:8000 (the quickstart)."""
    session.install(".", *(f"./plugins/{name}" for name in PLUGINS))
    session.run("plughost", "serve", *session.posargs)
