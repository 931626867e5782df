"""What every ``plughost`` command shares: the settings with the command's own flags applied,
the error exit, and the host's base URL as ``token`` and ``check`` take it."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from plughost.errors import PlughostError
from plughost.settings import HostSettings, load_settings


def command_settings(
    *, strict: bool = False, allow_remote_dev_issuer: bool = False
) -> HostSettings:
    """The operator's settings, with the flags a command line may add on top."""
    settings = load_settings()
    if strict:
        settings.strict = True
    if allow_remote_dev_issuer:
        settings.auth.allow_remote_dev_issuer = True
    return settings


def fail(exc: PlughostError) -> NoReturn:
    """Exit 2 with the error's message: a problem the operator fixes, not a crash."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def base_url(settings: HostSettings, url: str | None) -> str:
    """The host's public base URL as `plughost token` and `plughost check` both take it.

    ``--url`` first, then the configured public URL, then (dev issuer) where the host last
    served, then the default address of ``plughost serve``.
    """
    from plughost.devissuer.keys import DevIssuer

    if url:
        return url.rstrip("/")
    if settings.auth.public_url:
        return str(settings.auth.public_url).rstrip("/")
    if settings.auth.issuer == "dev":
        remembered = DevIssuer(settings.data_dir).remembered_url()
        if remembered:
            return remembered[0]
    return "http://127.0.0.1:8000"
