"""Read the audit trail back: from its JSON-lines file or its table, filtered and summarised.

What ``plughost audit`` shows; the trail itself is written by `plughost.ops.audit`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Engine, select

from plughost.ops.audit import FAILURES, AuditRecord, audit_table


def read_file(
    path: Path, since: datetime | None = None, until: datetime | None = None
) -> Iterator[AuditRecord]:
    """Records from a JSON-lines audit file written from ``since`` to ``until`` (both included),
    skipping lines that are not records."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                entry = AuditRecord.model_validate_json(line)
            except ValueError:
                continue
            if (since is None or entry.time >= since) and (until is None or entry.time <= until):
                yield entry


def read_database(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    newest: int | None = None,
) -> Iterator[AuditRecord]:
    """Records from ``since`` to ``until`` (both included) in time order; with ``newest``, only
    that many of the latest (a bounded read)."""
    stmt = select(audit_table)
    if since is not None:
        stmt = stmt.where(audit_table.c.time >= since)
    if until is not None:
        stmt = stmt.where(audit_table.c.time <= until)
    if newest is not None:
        latest = stmt.order_by(audit_table.c.time.desc(), audit_table.c.id.desc()).limit(newest)
        stmt = select(latest.subquery())
    stmt = stmt.order_by("time", "id")
    with engine.connect() as conn:
        for row in conn.execute(stmt).mappings():
            data = dict(row)
            data.pop("id")
            data["required_scopes"] = json.loads(data["required_scopes"])
            data["arguments"] = json.loads(data["arguments"])
            yield AuditRecord.model_validate(data)


def matching(
    records: Iterable[AuditRecord],
    *,
    subject: str | None = None,
    tool: str | None = None,
    outcome: str | None = None,
    trace_id: str | None = None,
) -> Iterator[AuditRecord]:
    """The records of this subject, tool, outcome and trace (each when given); the readers
    above choose the time window, so a database read is bounded by it."""
    for entry in records:
        if trace_id and entry.trace_id != trace_id.lower():
            continue
        if subject and entry.subject != subject:
            continue
        if tool and entry.tool != tool:
            continue
        if outcome and entry.outcome != outcome:
            continue
        yield entry


class UsageRow(BaseModel):
    key: str
    calls: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    outcomes: dict[str, int]


def summarize(records: Iterable[AuditRecord]) -> dict[str, list[UsageRow]]:
    """Calls, failures and latency per tool and per client: what agents do and where they fail."""
    groups: dict[str, dict[str, list[AuditRecord]]] = {
        "tool": defaultdict(list),
        "client": defaultdict(list),
    }
    for entry in records:
        groups["tool"][entry.tool or "(no tool)"].append(entry)
        groups["client"][entry.client_id or entry.subject or "(anonymous)"].append(entry)
    return {
        kind: [_usage(key, rows) for key, rows in sorted(by.items())] for kind, by in groups.items()
    }


def _usage(key: str, rows: list[AuditRecord]) -> UsageRow:
    latencies = sorted(r.latency_ms for r in rows if r.latency_ms is not None)
    outcomes: dict[str, int] = defaultdict(int)
    for r in rows:
        outcomes[r.outcome.value] += 1
    return UsageRow(
        key=key,
        calls=len(rows),
        failures=sum(1 for r in rows if r.outcome in FAILURES),
        p50_ms=_percentile(latencies, 0.50),
        p95_ms=_percentile(latencies, 0.95),
        outcomes=dict(outcomes),
    )


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)
