"""``plughost serve``: run the host under uvicorn, in one process or several workers."""

from __future__ import annotations

import sys
from typing import Any

import click

from plughost.cli.common import command_settings, fail
from plughost.errors import PlughostError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--strict", is_flag=True, help="Refuse to start if any plugin fails to load.")
@click.option(
    "--allow-remote-dev-issuer",
    is_flag=True,
    help="Let the dev issuer serve on a non-loopback address. Anyone who reaches it gets tokens.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port.",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this certificate (PEM), for deployments without an ingress.",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The certificate's private key (PEM).",
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str,
    port: int,
    strict: bool,
    allow_remote_dev_issuer: bool,
    workers: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    log_level: str,
) -> None:
    """Run the server: streamable HTTP at /mcp, /healthz, /readyz and /metrics."""
    import uvicorn

    from plughost.app import build, tune_gc_for_serving
    from plughost.edge.slow_clients import deadline_protocol
    from plughost.ops.logs import configure_logging

    if bool(ssl_certfile) != bool(ssl_keyfile):
        click.echo("error: --ssl-certfile and --ssl-keyfile go together", err=True)
        sys.exit(2)
    try:
        settings = command_settings(strict=strict, allow_remote_dev_issuer=allow_remote_dev_issuer)
        configure_logging(log_level, settings.log_format)
        app = build(settings, bind_host=host, port=port)
    except PlughostError as exc:
        fail(exc)
    for line in app.state.plughost_banner:
        click.echo(line, err=line.startswith("WARNING"))
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "log_config": None,
        "access_log": False,
        # X-Forwarded-For is honoured only from PLUGHOST_TRUSTED_PROXIES, by the host itself;
        # uvicorn's default would trust any loopback peer.
        "proxy_headers": False,
        "lifespan": "on",
        # Slow, idle and too many clients (PLUGHOST_HTTP__*): each wait ends, the count is capped.
        "http": deadline_protocol(settings.http.header_timeout_seconds),
        "timeout_keep_alive": settings.http.keep_alive_seconds,
        "limit_concurrency": settings.http.max_connections,
        "timeout_graceful_shutdown": settings.http.graceful_shutdown_seconds,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
    }
    if workers == 1:
        tune_gc_for_serving()
        uvicorn.run(app, **options)
        return
    _run_workers(workers, options, strict=strict, allow_remote_dev_issuer=allow_remote_dev_issuer)


def _run_workers(
    workers: int, options: dict[str, Any], *, strict: bool, allow_remote_dev_issuer: bool
) -> None:
    """Serve from ``workers`` processes, each building its own app from the environment.

    The parent's build has validated the settings and created the dev issuer's keys once, so
    workers share one key; the command line's flags reach them as the variables they stand for.
    """
    import os
    import tempfile

    import uvicorn

    from plughost.app import BIND_ENV

    os.environ[BIND_ENV] = f"{options['host']}:{options['port']}"
    if strict:
        os.environ["PLUGHOST_STRICT"] = "true"
    if allow_remote_dev_issuer:
        os.environ["PLUGHOST_AUTH__ALLOW_REMOTE_DEV_ISSUER"] = "true"
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="plughost-metrics-"))
    uvicorn.run("plughost.app:app_from_env", factory=True, workers=workers, **options)
