"""Start and stop the loaded plugins; withdraw one whose start-up fails.

A plugin's tables are created and its start-up hook runs once per process, before the first
call. A plugin that fails there is withdrawn (its tools leave the registry and the server, the
load report says why) and the others keep serving; in strict mode the host refuses to start.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from plughost.core.discovery import LoadedPlugin, LoadReport, PluginStatus
from plughost.core.schema import ensure_schema
from plughost.ops.metrics import Metrics
from plughost.sdk.plugin import maybe_await

if TYPE_CHECKING:
    from plughost.core.host import Host

log = logging.getLogger("plughost.lifecycle")


@asynccontextmanager
async def running(host: Host) -> AsyncIterator[None]:
    """The host's lifespan: the audit trail and every plugin, up in order and down in reverse."""
    host.audit.start()
    host.cursors.load()
    await start_plugins(host)
    try:
        yield
    finally:
        await stop_plugins(host)
        host.audit.close()
        host.engine.dispose()


async def start_plugins(host: Host) -> None:
    """Create each plugin's tables and run its start-up hook; withdraw the ones that fail."""
    for plugin in list(host.report.loaded):
        runtime = host.runtimes[plugin.namespace]
        try:
            runtime.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            for change in ensure_schema(host.engine, plugin.tables):
                log.info("plugin %s: %s", plugin.namespace, change)
            for result in plugin.manager.hook.plughost_startup(runtime=runtime):
                await maybe_await(result)
        except Exception as exc:
            log.exception("plugin %s failed to start", plugin.namespace)
            if host.settings.strict:
                raise
            withdraw(host, plugin, f"start-up failed: {type(exc).__name__}: {exc}", exc)
    count_plugins(host.report, host.metrics)


async def stop_plugins(host: Host) -> None:
    for plugin in reversed(host.report.loaded):
        try:
            runtime = host.runtimes[plugin.namespace]
            for result in plugin.manager.hook.plughost_shutdown(runtime=runtime):
                await maybe_await(result)
        except Exception:
            log.exception("plugin %s failed to shut down cleanly", plugin.namespace)


def withdraw(
    host: Host, plugin: LoadedPlugin, error: str, exc: BaseException | None = None
) -> None:
    """Take a plugin's tools off the server and the registry; the report says why."""
    for name in host.registry.withdraw(plugin.namespace, error):
        host.mcp.local_provider.remove_tool(name)
    host.report.mark_failed(plugin.namespace, error, exc)


def count_plugins(report: LoadReport, metrics: Metrics) -> None:
    for status in PluginStatus:
        count = sum(1 for r in report.records if r.status == status)
        metrics.plugins.labels(status=status.value).set(count)
