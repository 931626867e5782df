"""``plughost plugins``: every installed plugin, whether it loaded, and what it serves."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
from typing import Any

import click

from plughost.cli.common import command_settings, fail
from plughost.errors import PlughostError


@click.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the load report as a JSON list: one record per plugin (kind 'plugin'), "
    "then one per mount (kind 'remote').",
)
@click.option("--verbose", "-v", is_flag=True, help="Show the traceback of each failure.")
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when a plugin did not load.")
def plugins(as_json: bool, verbose: bool, allow_failures: bool) -> None:
    """Show every installed plugin, whether it loaded, and its tools, resources and prompts.

    Exits 1 when a plugin failed, was incompatible or conflicted (unless --allow-failures), so a
    build step can stop an image whose plugins do not load.
    """
    from plughost.core.host import load_plugins

    logging.basicConfig(level="ERROR")
    try:
        settings = command_settings()
        settings.strict = False
        report = load_plugins(settings)
    except PlughostError as exc:
        fail(exc)
    mounts = [_probe(namespace, mount) for namespace, mount in settings.mounts.items()]
    if as_json:
        plugin_records = [{"kind": "plugin", **r.model_dump(mode="json")} for r in report.records]
        click.echo(json.dumps(plugin_records + mounts, indent=2))
    elif not report.records:
        click.echo("no plugins installed (entry-point group 'mcp_tools')")
    else:
        for record in report.records:
            _print_record(record, verbose)
        if report.problems:
            click.echo(
                f"{len(report.problems)} plugin(s) not loaded: calls to their tools are refused "
                "as 'plugin not loaded' and audited as plugin_not_loaded"
                + ("" if verbose else "; --verbose shows each traceback"),
                err=True,
            )
    for state in mounts if not as_json else ():
        _print_mount(state)
    if report.problems and not allow_failures:
        sys.exit(1)


def _probe(namespace: str, settings: Any) -> dict[str, Any]:
    """One mounted server, connected once now, as a JSON-ready record beside the plugins': where
    it is (never its credential), whether it answers, the scopes the operator declared for it,
    and which of its targets are served or skipped, and why."""
    from plughost.core.mounts import probe

    state = asyncio.run(probe(namespace, settings))
    return {"kind": state.kind, **dataclasses.asdict(state), "scopes": dict(settings.scopes)}


def _print_mount(state: dict[str, Any]) -> None:
    """A mount's record as text, after the plugins'."""
    click.echo(
        f"{state['namespace']:<12} {state['kind']:<12} {state['transport']} {state['where']}"
    )
    up = state["status"] == "up"
    click.echo(
        f"    {state['status']}: "
        + (f"{state['server']} {state['version']}" if up else state["error"])
    )
    for name in state["served"]:
        click.echo(f"    {name}")
    for name, why in state["skipped"].items():
        click.echo(f"    (skipped) {name}: {why}")


def _print_record(record: Any, verbose: bool) -> None:
    """One plugin: status, why not loaded, each tool with its scopes and hints, then each
    resource, resource template and prompt with its scopes and the arguments that complete."""
    from plughost.core.tool_schema import hint_labels

    click.echo(
        f"{record.namespace:<12} {record.status.value:<12} {record.distribution} {record.version}"
    )
    if record.error:
        click.echo(f"    {record.error}")
    if record.location:
        click.echo(f"    at {record.location}")
    if verbose and record.traceback:
        click.echo("    " + record.traceback.replace("\n", "\n    "))
    for tool in record.tools:
        hints = hint_labels(tool.annotations)
        click.echo(f"    {tool.name:<40} {' '.join(tool.scopes) or '(no scopes)'}")
        click.echo(f"        hints: {', '.join(hints)}")
        for scope, when in tool.conditional_scopes.items():
            click.echo(f"        + {scope} {when}")
    for component in record.components:
        click.echo(f"    {component.name:<40} {' '.join(component.scopes) or '(no scopes)'}")
        what = ", ".join(filter(None, [component.kind, component.mime_type]))
        completes = f"; completes: {', '.join(component.completes)}" if component.completes else ""
        click.echo(f"        {what}{completes}")
