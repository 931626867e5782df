"""``plughost worker``: one isolated plugin's process, started by the host, never by hand."""

from __future__ import annotations

import os
import sys

import anyio
import click

from plughost.cli.common import fail
from plughost.errors import PlughostError


@click.command(hidden=True)
@click.argument("namespace")
@click.option("--manifest", is_flag=True, help="Print what the host must know, then exit.")
def worker(namespace: str, manifest: bool) -> None:
    """Serve one plugin over stdio to the host that started this process."""
    from plughost.core.isolation import worker as isolated
    from plughost.core.isolation.supervisor import worker_settings
    from plughost.ops.logs import configure_logging

    try:
        isolated.check_hosted(namespace)
        settings = worker_settings()
        configure_logging("warning", settings.log_format)
        if manifest:
            out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the plugin's prints: stderr
            isolated.write_manifest(anyio.run(isolated.manifest, namespace, settings), out)
            return
        anyio.run(isolated.serve, namespace, settings)
    except PlughostError as exc:
        fail(exc)
