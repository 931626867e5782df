"""``plughost serve``: run the host under uvicorn, its server processes supervised.

By default the command is a small manager (`plughost.cli.supervisor.Replacing`) and the host
runs in ``--workers`` server processes it replaces whenever one dies; ``--no-supervise`` (one
worker only) serves from the command's own process, as before, for debuggers and profilers.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from plughost.cli.common import command_settings, fail
from plughost.errors import PlughostError

if TYPE_CHECKING:
    from starlette.applications import Starlette

#: The log level the command line chose, for the server processes it starts.
LOG_LEVEL_ENV = "_PLUGHOST_LOG_LEVEL"


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
@click.option(
    "--supervise/--no-supervise",
    default=True,
    show_default=True,
    help="Serve from processes that are replaced when they die (whatever their exit code); "
    "--no-supervise serves from this process (one worker only).",
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
    supervise: bool,
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
    if workers > 1 and not supervise:
        click.echo("error: --workers needs supervision (drop --no-supervise)", err=True)
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
    if not supervise:
        tune_gc_for_serving()
        uvicorn.run(app, **options)
        return
    _run_workers(workers, options, strict=strict, allow_remote_dev_issuer=allow_remote_dev_issuer)


def _run_workers(
    workers: int, options: dict[str, Any], *, strict: bool, allow_remote_dev_issuer: bool
) -> None:
    """Serve from ``workers`` supervised processes, each building its own app from the
    environment (`served_app`).

    The parent's build has validated the settings and created the dev issuer's keys once, so
    workers share one key; the command line's flags reach them as the variables they stand for.
    """
    import os
    import tempfile

    import uvicorn

    from plughost.app import BIND_ENV
    from plughost.cli.supervisor import Replacing

    os.environ[BIND_ENV] = f"{options['host']}:{options['port']}"
    os.environ[LOG_LEVEL_ENV] = options["log_level"]
    if strict:
        os.environ["PLUGHOST_STRICT"] = "true"
    if allow_remote_dev_issuer:
        os.environ["PLUGHOST_AUTH__ALLOW_REMOTE_DEV_ISSUER"] = "true"
    if workers > 1:
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="plughost-metrics-")
        )
    config = uvicorn.Config(
        "plughost.cli.serve:served_app", factory=True, workers=workers, **options
    )
    Replacing(config, sockets=[config.bind_socket()]).run()


def served_app() -> Starlette:
    """The app one supervised server process builds; it stops when its manager dies."""
    import os

    from plughost.app import app_from_env
    from plughost.cli.supervisor import die_with_parent
    from plughost.ops.logs import configure_logging
    from plughost.settings import load_settings

    die_with_parent()
    configure_logging(os.environ.get(LOG_LEVEL_ENV, "info"), load_settings().log_format)
    return app_from_env()
