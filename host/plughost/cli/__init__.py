"""The ``plughost`` command (``plughost.cli:main``): serve the host, inspect plugins.

Each command group is a module of its own; this group only gathers them. Commands import the
host's heavier parts inside their bodies, so ``plughost --help`` stays quick.
"""

from __future__ import annotations

import click

from plughost import __version__
from plughost.cli.audit import audit
from plughost.cli.check import check
from plughost.cli.db import db
from plughost.cli.dev_token import token
from plughost.cli.isolate import isolate
from plughost.cli.new_plugin import new_plugin
from plughost.cli.plugins import plugins
from plughost.cli.serve import serve
from plughost.cli.worker import worker


@click.group()
@click.version_option(__version__, prog_name="plughost")
def main() -> None:
    """Plughost: one shared MCP server for every team's tools."""


for _command in (serve, plugins, token, check, audit, new_plugin, db, worker, isolate):
    main.add_command(_command)
