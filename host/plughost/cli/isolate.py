"""``plughost isolate``: a virtualenv of its own for an isolated plugin."""

from __future__ import annotations

from pathlib import Path

import click

from plughost.cli.common import command_settings, fail
from plughost.errors import PlughostError


@click.group()
def isolate() -> None:
    """Virtualenvs for plugins that run in a worker process of their own."""


@isolate.command(context_settings={"ignore_unknown_options": True})
@click.argument("namespace")
@click.argument("requirements", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create it; default: <data dir>/venvs/<namespace>.",
)
def create(namespace: str, requirements: tuple[str, ...], path: Path | None) -> None:
    """Create a virtualenv for NAMESPACE's worker and pip-install REQUIREMENTS into it.

    REQUIREMENTS (and pip options, after --) are passed to pip install as given. The
    virtualenv sees the host's packages after its own, so its pins win and plughost is the
    host's. Prints the settings that serve the plugin from it.
    """
    from plughost.core.isolation.environment import create as create_environment

    try:
        settings = command_settings()
        where = path or settings.data_dir / "venvs" / namespace
        python = create_environment(where.resolve(), requirements)
    except PlughostError as exc:
        fail(exc)
    prefix = f"PLUGHOST_WORKERS__{namespace.upper()}"
    click.echo(f"PLUGHOST_ISOLATION__{namespace.upper()}=process")
    click.echo(f"{prefix}__PYTHON={python}")
