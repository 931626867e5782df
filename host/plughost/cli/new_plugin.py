"""``plughost new-plugin``: write a plugin repository, then say how to start on it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "target",
    type=click.Path(),
    default=None,
    help="Directory to create; default: ./plughost-NAME. Must not exist.",
)
def new_plugin(name: str, target: str | None) -> None:
    """Write a plugin repository NAME ready for CI: package, tests, nox, ruff, workflow, docs."""
    from plughost.scaffold import ScaffoldError, host_requirement
    from plughost.scaffold import new_plugin as scaffold

    try:
        written = scaffold(name, Path(target) if target else None)
    except ScaffoldError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    # Install into the environment this plughost runs from: it already satisfies the range.
    python = shlex.quote(sys.executable)
    click.echo(f"wrote plughost-{name} ({host_requirement()}) in {written}")
    click.echo("next:")
    click.echo(f"  cd {shlex.quote(str(written))}")
    click.echo(f"  {python} -m pip install -e '.[test]'")
    click.echo(f"  {python} -m pytest")
    click.echo("CI runs `nox` (tests against the installed host, and ruff); see README.md")
