"""The audit trail: one record per tool call and per refused request.

Records say who (subject, client, tenant), what (tool, plugin@version, required scopes), how it
ended (outcome, latency) and under which request id. They never hold a token, a secret or, unless
the operator turns it on, argument values: only argument names. Writing happens off the request
path: records are queued and a background thread appends them as JSON lines (stdout or a file)
and, when configured, inserts them into the database in batches, gathered for up to 50 ms.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, Field
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from plughost.core.schema import ensure_schema
from plughost.sdk.tables import UTCDateTime

log = logging.getLogger("plughost.ops.audit")


class Outcome(StrEnum):
    """How a call ended; every request to ``/mcp`` that names a tool or is refused gets one."""

    OK = "ok"
    TOOL_ERROR = "tool_error"
    INVALID_INPUT = "invalid_input"
    DENIED = "denied"
    RATE_LIMITED = "rate_limited"
    UNAUTHENTICATED = "unauthenticated"
    UNKNOWN_TOOL = "unknown_tool"
    PLUGIN_NOT_LOADED = "plugin_not_loaded"
    BAD_REQUEST = "bad_request"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"


FAILURES = {o for o in Outcome if o is not Outcome.OK}


class AuditRecord(BaseModel):
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    request_id: str | None = None
    subject: str | None = None
    client_id: str | None = None
    tenant: str | None = None
    tool: str | None = None
    plugin: str | None = None
    plugin_version: str | None = None
    required_scopes: list[str] = Field(default_factory=list)
    outcome: Outcome
    detail: str | None = Field(None, description="Error code or refusal reason; never a secret.")
    latency_ms: float | None = None
    arguments: list[str] | dict[str, Any] = Field(default_factory=list)


_metadata = MetaData()
audit_table = Table(
    "plughost_audit",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", UTCDateTime(), nullable=False, index=True),
    Column("request_id", String(64)),
    Column("subject", String(255), index=True),
    Column("client_id", String(255)),
    Column("tenant", String(255)),
    Column("tool", String(64), index=True),
    Column("plugin", String(64)),
    Column("plugin_version", String(64)),
    Column("required_scopes", Text, nullable=False, default="[]"),
    Column("outcome", String(32), nullable=False, index=True),
    Column("detail", String(255)),
    Column("latency_ms", Float),
    Column("arguments", Text, nullable=False, default="[]"),
)


class AuditTrail:
    """Queue records; a daemon thread writes them to the stream and/or the database."""

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        path: Path | None = None,
        engine: Engine | None = None,
        batch_size: int = 200,
        linger_seconds: float = 0.05,
    ) -> None:
        self._stream = stream
        self._path = path
        self._engine = engine
        self._batch_size = batch_size
        self._linger = linger_seconds
        self._queue: queue.Queue[AuditRecord | None] = queue.Queue(maxsize=100_000)
        self._thread: threading.Thread | None = None
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return any((self._stream, self._path, self._engine))

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        if self._engine is not None:
            ensure_schema(self._engine, [audit_table])
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="plughost-audit", daemon=True)
        self._thread.start()

    def record(self, entry: AuditRecord) -> None:
        """Queue one record; never blocks the request (a full queue drops and counts)."""
        if self._thread is None:
            return
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Write everything queued, then stop."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        handle = self._path.open("a", encoding="utf-8") if self._path else None
        try:
            while True:
                batch, last = self._next_batch()
                self._write(batch, handle)
                if last:
                    return
        finally:
            if handle:
                handle.close()

    def _next_batch(self) -> tuple[list[AuditRecord], bool]:
        """Wait for a record, let the ones right behind it join, and take up to a batch.

        Lingering a moment before draining means a busy host wakes this thread (and takes the
        GIL from requests) a few times a second rather than once per call. True means stop.
        """
        first = self._queue.get()
        if first is None:
            return [], True
        if self._queue.qsize() < self._batch_size:
            time.sleep(self._linger)
        batch = [first]
        while len(batch) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _write(self, batch: list[AuditRecord], handle: TextIO | None) -> None:
        if not batch:
            return
        lines = "".join(entry.model_dump_json() + "\n" for entry in batch)
        for out in (self._stream, handle):
            if out is not None:
                out.write(lines)
                out.flush()
        if self._engine is not None:
            rows = [_to_row(entry) for entry in batch]
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(audit_table), rows)
            except Exception:
                log.exception("could not write %d audit record(s) to the database", len(rows))


def build_trail(sink: str, file: Path | None, engine: Engine | None) -> AuditTrail:
    """The trail a host's settings describe (``sink``: stdout, file or off)."""
    return AuditTrail(
        stream=sys.stdout if sink == "stdout" else None,
        path=file if sink == "file" else None,
        engine=engine,
    )


def _to_row(entry: AuditRecord) -> dict[str, Any]:
    row = entry.model_dump()
    row["required_scopes"] = json.dumps(row["required_scopes"])
    row["arguments"] = json.dumps(row["arguments"], default=str)
    row["outcome"] = entry.outcome.value
    return row


def read_file(path: Path) -> Iterator[AuditRecord]:
    """Records from a JSON-lines audit file, skipping lines that are not records."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                yield AuditRecord.model_validate_json(line)
            except ValueError:
                continue


def read_database(engine: Engine, since: datetime | None = None) -> Iterator[AuditRecord]:
    stmt = select(audit_table).order_by(audit_table.c.time)
    if since is not None:
        stmt = stmt.where(audit_table.c.time >= since)
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
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[AuditRecord]:
    for entry in records:
        if subject and entry.subject != subject:
            continue
        if tool and entry.tool != tool:
            continue
        if outcome and entry.outcome != outcome:
            continue
        if since and entry.time < since:
            continue
        if until and entry.time > until:
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
