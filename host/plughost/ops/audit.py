"""The audit trail: one record per tool call and per refused request.

This module writes the trail; `plughost.ops.audit_query` reads it back for the CLI.
Records say who (subject, client, tenant), what (tool, plugin@version, required scopes), how it
ended (outcome, latency) and under which request id (and trace id, when traced). They never hold
a token, a secret or, unless the operator turns it on, argument values: only argument names.
Writing happens off the request path: records are queued and a background thread appends them
as JSON lines (stdout or a file) and, when configured, inserts them into the database in
batches, gathered for up to 50 ms.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
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
)

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
    kind: str | None = Field(None, description="What was used: tool, prompt, resource, completion.")
    tool: str | None = Field(None, description="The tool or prompt's name, or the resource's URI.")
    plugin: str | None = None
    plugin_version: str | None = None
    required_scopes: list[str] = Field(default_factory=list)
    outcome: Outcome
    detail: str | None = Field(None, description="Error code or refusal reason; never a secret.")
    latency_ms: float | None = None
    arguments: list[str] | dict[str, Any] = Field(default_factory=list)
    trace_id: str | None = Field(None, description="The call's OpenTelemetry trace, when traced.")


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
    Column("kind", String(16)),
    Column("tool", String(64), index=True),
    Column("plugin", String(64)),
    Column("plugin_version", String(64)),
    Column("required_scopes", Text, nullable=False, default="[]"),
    Column("outcome", String(32), nullable=False, index=True),
    Column("detail", String(255)),
    Column("latency_ms", Float),
    Column("arguments", Text, nullable=False, default="[]"),
    Column("trace_id", String(32)),
)


#: A queued record and, in durable mode, the future its request waits on until it is committed.
Pending = tuple[AuditRecord, Future[bool] | None]


@dataclass(eq=False, kw_only=True)
class AuditTrail:
    """Queue records; a daemon thread writes them to the stream, file and/or database.

    By default a request never waits for its record: a crash can lose the records of the
    last few dozen milliseconds. ``durable=True`` trades latency for certainty: `record`
    returns a future that the writer completes once the record is on disk (file: fsync) and
    committed (database), and the host holds the response until then. Records that arrive
    while a batch is being written form the next batch (group commit), so durability costs
    one commit per batch, not one per call.
    """

    stream: TextIO | None = None
    path: Path | None = None
    engine: Engine | None = None
    durable: bool = False
    batch_size: int = 200
    #: How long the writer lets records gather behind the first (none in durable mode).
    linger_seconds: float = 0.05
    dropped: int = field(default=0, init=False)
    _queue: queue.Queue[Pending | None] = field(
        default_factory=lambda: queue.Queue(maxsize=100_000), init=False
    )
    _thread: threading.Thread | None = field(default=None, init=False)

    @property
    def enabled(self) -> bool:
        return any((self.stream, self.path, self.engine))

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="plughost-audit", daemon=True)
        self._thread.start()

    def record(self, entry: AuditRecord) -> Future[bool] | None:
        """Queue one record without blocking (a full queue drops and counts it).

        In durable mode, returns a future that becomes True once the record is committed
        (False if writing it failed).
        """
        if self._thread is None:
            return None
        done: Future[bool] | None = Future() if self.durable else None
        try:
            self._queue.put_nowait((entry, done))
        except queue.Full:
            self.dropped += 1
            if done is not None:
                done.set_result(False)
        return done

    def close(self) -> None:
        """Write everything queued, then stop."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        handle = self.path.open("a", encoding="utf-8") if self.path else None
        try:
            while True:
                batch, last = self._next_batch()
                self._write(batch, handle)
                if last:
                    return
        finally:
            if handle:
                handle.close()

    def _next_batch(self) -> tuple[list[Pending], bool]:
        """Wait for a record, let the ones right behind it join, and take up to a batch.

        Lingering a moment before draining means a busy host wakes this thread (and takes the
        GIL from requests) a few times a second rather than once per call. True means stop.
        """
        first = self._queue.get()
        if first is None:
            return [], True
        if self._queue.qsize() < self.batch_size:
            time.sleep(0.0 if self.durable else self.linger_seconds)
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _write(self, batch: list[Pending], handle: TextIO | None) -> None:
        if not batch:
            return
        written = [True] * len(batch)
        try:
            self._append([entry for entry, _ in batch], handle)
        except Exception:
            log.exception("could not write %d audit record(s) to the stream/file", len(batch))
            written = [False] * len(batch)
        if self.engine is not None:
            rows = [_to_row(entry) for entry, _ in batch]
            written = [
                ok and row_ok for ok, row_ok in zip(written, self._insert(rows), strict=True)
            ]
        for (_, done), ok in zip(batch, written, strict=True):
            if done is not None:
                done.set_result(ok)

    def _append(self, entries: list[AuditRecord], handle: TextIO | None) -> None:
        lines = "".join(entry.model_dump_json() + "\n" for entry in entries)
        for out in (self.stream, handle):
            if out is not None:
                out.write(lines)
                out.flush()
        if handle is not None and self.durable:
            os.fsync(handle.fileno())

    def _insert(self, rows: list[dict[str, Any]]) -> list[bool]:
        """Insert a batch; if the batch fails, each row on its own, so one bad row loses only
        itself and never the other callers' records. Returns which rows were written."""
        assert self.engine is not None
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(audit_table), rows)
            return [True] * len(rows)
        except Exception:
            if len(rows) == 1:
                log.exception("could not write an audit record to the database")
                return [False]
            log.warning("audit batch of %d failed; writing its records one by one", len(rows))
        return [self._insert([row])[0] for row in rows]


def build_trail(
    sink: str, file: Path | None, engine: Engine | None, *, durable: bool = False
) -> AuditTrail:
    """The trail a host's settings describe (``sink``: stdout, file or off)."""
    return AuditTrail(
        stream=sys.stdout if sink == "stdout" else None,
        path=file if sink == "file" else None,
        engine=engine,
        durable=durable,
    )


def _to_row(entry: AuditRecord) -> dict[str, Any]:
    """A database row that fits its columns whatever a caller put into the record."""
    row = entry.model_dump()
    row["required_scopes"] = json.dumps(row["required_scopes"])
    row["arguments"] = json.dumps(row["arguments"], default=str)
    row["outcome"] = entry.outcome.value
    return {name: _fit(audit_table.c[name], value) for name, value in row.items()}


def _fit(column: Column[Any], value: Any) -> Any:
    """Strip NUL characters (PostgreSQL refuses them) and cut strings to the column's length."""
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "")
    length = getattr(column.type, "length", None)
    return value if length is None or len(value) <= length else value[: length - 1] + "…"
