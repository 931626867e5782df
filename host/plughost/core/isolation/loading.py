"""Isolated plugins in the host's load report, learnt from their workers, never imported.

At start the host runs each isolated plugin's worker once with ``--manifest`` (all of them at
once, each within the plugin start deadline): the worker loads the plugin in its own
interpreter and says what it serves (`WorkerManifest`). The report then holds the plugin as
if the host had loaded it (its record, scopes and tools), marked ``isolated``, so sign-in
scopes, the consent page, the console and the registry see no difference; or its failure.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence

import pluggy

from plughost.core.discovery import LoadedPlugin, LoadReport, PluginRecord, PluginStatus
from plughost.core.isolation.manifest import WorkerManifest
from plughost.core.isolation.supervisor import worker_command, worker_environment
from plughost.sdk import hookspecs
from plughost.settings import HostSettings


def isolated_namespaces(settings: HostSettings) -> list[str]:
    """The namespaces the operator isolated that are also enabled."""
    enabled = settings.enabled_plugins
    return [
        namespace
        for namespace in settings.isolation
        if settings.isolated(namespace)
        and namespace not in settings.disabled_plugins
        and (enabled is None or namespace in enabled)
    ]


def fetch_manifests(settings: HostSettings, namespaces: Sequence[str]) -> list[WorkerManifest]:
    """Each worker's manifest, or a failed record saying why there is none."""
    started = {
        namespace: subprocess.Popen(
            [*worker_command(namespace, settings.worker(namespace)), "--manifest"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=worker_environment(namespace, settings),
        )
        for namespace in namespaces
    }
    # Importing and checking the plugin has its deadline in the worker; this one adds the
    # interpreter's own start.
    deadline = settings.plugin_start_timeout_seconds + 30
    return [_manifest(namespace, process, deadline) for namespace, process in started.items()]


def _manifest(namespace: str, process: subprocess.Popen[bytes], deadline: float) -> WorkerManifest:
    try:
        out, err = process.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return _failed(namespace, f"its worker did not describe it within {deadline:g}s")
    try:
        return WorkerManifest.model_validate(json.loads(out.splitlines()[-1]))
    except (ValueError, IndexError):
        lines = err.decode(errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"exit code {process.returncode}"
        return _failed(namespace, f"its worker could not load it: {why}")


def _failed(namespace: str, error: str) -> WorkerManifest:
    record = PluginRecord(
        namespace=namespace,
        distribution=None,
        version=None,
        entry_point="",
        status=PluginStatus.FAILED,
        error=error,
    )
    return WorkerManifest(record=record)


def adopt(report: LoadReport, manifests: Sequence[WorkerManifest]) -> None:
    """Put each isolated plugin in the report, in place of the host's own look at it."""
    for manifest in manifests:
        record = manifest.record
        if manifest.guardrails and record.status is PluginStatus.LOADED:
            record.status = PluginStatus.FAILED
            record.error = (
                "it declares guardrail hooks (before_call/after_call), which run in the host's "
                "process around every plugin's calls; an isolated plugin may not: run it in "
                f"the host's process (unset PLUGHOST_ISOLATION__{record.namespace.upper()})"
            )
        report.records = [r for r in report.records if r.namespace != record.namespace]
        report.records.append(record)
        if record.status is PluginStatus.LOADED:
            report.loaded.append(_stand_in(record))
            report.manifests[record.namespace] = manifest


def _stand_in(record: PluginRecord) -> LoadedPlugin:
    """The host's side of an isolated plugin: its record, and no code (a manager without
    implementations: no hooks, tables or settings run in the host)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return LoadedPlugin(
        record=record, manager=manager, tools=[], settings_model=None, tables=[], isolated=True
    )
