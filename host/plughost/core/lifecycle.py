"""Start and stop the loaded plugins; withdraw one whose start-up fails.

The host's own schema is made ready first (without it the host does not start). Then, once per
process and before the first call, each plugin's schema is made ready and its start-up hook
runs. Ready means migrated (`PLUGHOST_MIGRATE_ON_START=upgrade`, SQLite's default) or checked
to be current (``refuse``, the default elsewhere, where the deploy runs ``plughost db
upgrade``). A plugin that fails there is withdrawn (its tools leave the registry and the server,
the load report says why) and the others keep serving; in strict mode the host refuses to start.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from pluggy import HookCaller
from sqlalchemy.exc import SQLAlchemyError

from plughost import __version__
from plughost.core import migrations
from plughost.core.discovery import LoadedPlugin, LoadReport, PluginStatus
from plughost.core.registry import Kind, RegisteredTarget
from plughost.errors import PluginStartTimeout
from plughost.ops.metrics import Metrics
from plughost.sdk.context import PluginRuntime
from plughost.sdk.plugin import maybe_await

if TYPE_CHECKING:
    from plughost.core.host import Host

log = logging.getLogger("plughost.lifecycle")

#: How long stopping waits for a plugin's leftover tasks, then for its loop's thread.
_LOOP_CLOSE_SECONDS = 2.0


@asynccontextmanager
async def running(host: Host) -> AsyncIterator[None]:
    """The host's lifespan: the audit trail and every plugin, up in order and down in reverse."""
    await ready_host_schema(host)
    host.audit.start()
    host.cursors.load()
    host.state_key.load()
    if host.asking is not None:
        await host.asking.router.start()
    await start_plugins(host)
    try:
        async with host.workers.running():
            yield
    finally:
        await stop_plugins(host)
        if host.asking is not None:
            await host.asking.router.stop()
        host.audit.close()
        host.engine.dispose()


async def start_plugins(host: Host) -> None:
    """Create each plugin's tables and run its start-up hook; withdraw the ones that fail.

    The hooks run on the plugin's own event loop (`PluginLoop`), within
    ``PLUGHOST_PLUGIN_START_TIMEOUT_SECONDS``: one that hangs or blocks withdraws its plugin
    instead of keeping the host from starting.
    """
    deadline = host.settings.plugin_start_timeout_seconds
    for plugin in list(host.report.loaded):
        if plugin.isolated:
            continue  # its worker readies its schema and runs its hooks
        runtime = host.runtimes[plugin.namespace]
        try:
            runtime.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            await ready_schema(host, migrations.plugin_track(plugin))
            hook = plugin.manager.hook.plughost_startup
            with anyio.move_on_after(deadline) as scope:
                await host.loops[plugin.namespace].run(functools.partial(_each, hook, runtime))
            if scope.cancelled_caught:
                raise PluginStartTimeout(
                    f"start-up did not finish within {deadline:g}s "
                    "(PLUGHOST_PLUGIN_START_TIMEOUT_SECONDS)"
                )
        except Exception as exc:
            log.exception("plugin %s failed to start", plugin.namespace)
            if host.settings.strict:
                raise
            withdraw(host, plugin, f"start-up failed: {type(exc).__name__}: {exc}", exc)
    count_plugins(host.report, host.metrics)


async def ready_host_schema(host: Host) -> None:
    """The host's own tables: a database that cannot be reached is no reason not to start.

    As with the cursor key, the host then serves what it can and `/readyz` says the database is
    down; a schema that is behind or ahead stops the start, since the host would write into it.
    """
    try:
        await ready_schema(host, migrations.host_track(__version__))
    except SQLAlchemyError as exc:
        log.warning("the host's schema could not be checked at start-up: %s", exc)


async def ready_schema(host: Host, track: migrations.Track) -> None:
    """Migrate or check one track, off the event loop and within the migration deadline."""
    settings = host.settings
    migrate = settings.migrate_on_start == "upgrade" or (
        settings.migrate_on_start == "auto" and host.engine.dialect.name == "sqlite"
    )
    deadline = settings.migration_timeout_seconds
    try:
        with anyio.fail_after(deadline):
            await anyio.to_thread.run_sync(
                lambda: migrations.make_ready(host.engine, track, migrate=migrate),
                abandon_on_cancel=True,
            )
    except TimeoutError:
        raise migrations.MigrationTimeout(
            f"the schema of {track.name} was not ready within {deadline:g} s "
            "(PLUGHOST_MIGRATION_TIMEOUT_SECONDS): another replica may hold the migration "
            "lock, or the database is slow; run `plughost db status` to see where it stands"
        ) from None


async def stop_plugins(host: Host) -> None:
    """Run each plugin's shutdown hooks, in reverse order and within the hook deadline; then
    stop every plugin's event loop (withdrawn plugins' too: their start-up may have left work)."""
    deadline = host.settings.plugin_start_timeout_seconds
    for plugin in reversed(host.report.loaded):
        if plugin.isolated:
            continue
        runtime = host.runtimes[plugin.namespace]
        hook = plugin.manager.hook.plughost_shutdown
        try:
            with anyio.move_on_after(deadline) as scope:
                await host.loops[plugin.namespace].run(functools.partial(_each, hook, runtime))
            if scope.cancelled_caught:
                log.error("plugin %s did not shut down within %gs", plugin.namespace, deadline)
        except Exception:
            log.exception("plugin %s failed to shut down cleanly", plugin.namespace)
    for loop in (*host.loops.values(), *host.guard_loops.values()):
        await loop.close(timeout=_LOOP_CLOSE_SECONDS)


async def _each(hook: HookCaller, runtime: PluginRuntime) -> None:
    """Call a lifecycle hook's implementations, awaiting the async ones."""
    for result in hook(runtime=runtime):
        await maybe_await(result)


def withdraw(
    host: Host, plugin: LoadedPlugin, error: str, exc: BaseException | None = None
) -> None:
    """Take a plugin's tools, resources and prompts off the server and the registry; the
    report says why."""
    kinds: tuple[Kind, ...] = ("tool", "prompt", "resource")
    targets = [
        target
        for kind in kinds
        for target in host.registry.targets(kind)
        if target.plugin == plugin.namespace
    ]
    host.registry.withdraw(plugin.namespace, error)
    unserve(host, targets)
    host.report.mark_failed(plugin.namespace, error, exc)


def unserve(host: Host, targets: Sequence[RegisteredTarget]) -> None:
    """Take ``targets`` (already out of the registry) off the server and the fast path."""
    served = host.mcp.local_provider
    for target in targets:
        if target.kind == "tool":
            served.remove_tool(target.name)
            host.tools.pop(target.name, None)
        elif target.kind == "prompt":
            served.remove_prompt(target.name)
        elif "{" in target.name:
            served.remove_template(target.name)
        else:
            served.remove_resource(target.name)
    host.completions.withdraw([target.name for target in targets])


def count_plugins(report: LoadReport, metrics: Metrics) -> None:
    for status in PluginStatus:
        count = sum(1 for r in report.records if r.status == status)
        metrics.plugins.labels(status=status.value).set(count)
