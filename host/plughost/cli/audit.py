"""``plughost audit``: the audit trail read back, filtered, listed or summarised."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from plughost.cli.common import command_settings, fail
from plughost.errors import PlughostError
from plughost.ops.audit import AuditRecord, Outcome
from plughost.settings import HostSettings


@click.command()
@click.option("--subject", default=None, help="Only this subject.")
@click.option("--tool", default=None, help="Only this tool.")
@click.option(
    "--outcome",
    default=None,
    type=click.Choice([outcome.value for outcome in Outcome]),
)
@click.option("--since", default=None, help="From: ISO time or an age like 30m, 6h, 7d.")
@click.option("--until", default=None, help="Until: ISO time or an age.")
@click.option("--trace-id", default=None, help="Only the call of this OpenTelemetry trace.")
@click.option(
    "--limit", default=100, show_default=True, type=int, help="At most this many records."
)
@click.option("--summary", is_flag=True, help="Calls, failures and latency per tool and client.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def audit(
    subject: str | None,
    tool: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    trace_id: str | None,
    limit: int,
    summary: bool,
    as_json: bool,
) -> None:
    """Read the audit trail (from the database if kept there, else the audit file)."""
    from plughost.ops import audit_query as trail

    try:
        settings = command_settings()
        start, end = _when(since), _when(until)
    except (PlughostError, ValueError) as exc:
        fail(PlughostError(str(exc)))
    selected = trail.matching(
        _read_trail(settings, start, end),
        subject=subject,
        tool=tool,
        outcome=outcome,
        trace_id=trace_id,
    )
    if summary:
        _print_usage(trail.summarize(selected), as_json)
        return
    for entry in list(selected)[-limit:]:
        click.echo(entry.model_dump_json() if as_json else _line(entry))


def _read_trail(
    settings: HostSettings, since: datetime | None, until: datetime | None
) -> Iterable[AuditRecord]:
    """The records from ``since`` to ``until``, from the database if the trail is kept there,
    else from the audit file."""
    from plughost.core.database import build_engine
    from plughost.ops import audit_query as trail

    if settings.audit.database:
        return trail.read_database(build_engine(settings.resolved_database_url), since, until)
    if settings.audit.file is not None and settings.audit.file.exists():
        return trail.read_file(settings.audit.file, since, until)
    click.echo(
        "error: no audit trail to read; set PLUGHOST_AUDIT__DATABASE=true or "
        "PLUGHOST_AUDIT__SINK=file with PLUGHOST_AUDIT__FILE",
        err=True,
    )
    sys.exit(2)


def _line(entry: AuditRecord) -> str:
    """One record as a line: time, outcome, tool, who, latency, and its trace if it has one."""
    return (
        f"{entry.time.isoformat(timespec='seconds')} {entry.outcome.value:<15} "
        f"{entry.tool or '-':<28} {entry.client_id or entry.subject or '-':<20} "
        f"{entry.latency_ms if entry.latency_ms is not None else '-'}"
        + (f" trace {entry.trace_id}" if entry.trace_id else "")
    )


def _print_usage(usage: dict[str, list[Any]], as_json: bool) -> None:
    """``plughost audit --summary``: calls, failures and latency per tool and per client."""
    if as_json:
        click.echo(json.dumps({k: [r.model_dump() for r in v] for k, v in usage.items()}, indent=2))
        return
    for kind, rows in usage.items():
        click.echo(f"{'per ' + kind:<32} {'calls':>7} {'failed':>7} {'p50 ms':>9} {'p95 ms':>9}")
        for row in rows:
            click.echo(
                f"{row.key:<32} {row.calls:>7} {row.failures:>7} "
                f"{_ms(row.p50_ms):>9} {_ms(row.p95_ms):>9}"
            )
        click.echo()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _when(value: str | None) -> datetime | None:
    """An ISO timestamp, or an age such as 45s, 30m, 6h, 7d counted back from now."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)([smhd])", value)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return datetime.now(UTC) - timedelta(**{unit: int(match[1])})
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
