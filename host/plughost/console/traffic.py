"""What the Traffic page shows: the audit trail of the last day, summarised, and its chart.

Read from the trail's table (``PLUGHOST_AUDIT__DATABASE=true``), the newest `MAX_RECORDS` of
the last 24 hours at most, so a busy day cannot make one page load unbounded. Calls per tool
and outcome over the last hour and day, latency percentiles, the top clients, the latest
refusals (401, 403, 429) with their reasons, and calls per hour as bars. Argument values are
never read into the page, whatever the trail holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Engine

from plughost.ops.audit import FAILURES, AuditRecord, Outcome
from plughost.ops.audit_query import UsageRow, read_database, summarize

MAX_RECORDS = 50_000
TOP_CLIENTS = 10
LATEST_REFUSALS = 20
HOURS = 24
#: The HTTP status each refusal outcome is answered with.
REFUSAL_STATUS = {
    Outcome.UNAUTHENTICATED: 401,
    Outcome.DENIED: 403,
    Outcome.RATE_LIMITED: 429,
}
#: Chart geometry, in SVG user units.
CHART_WIDTH, CHART_HEIGHT, CHART_TOP = 720, 200, 16


class Refusal(BaseModel):
    time: datetime
    status: int
    outcome: str
    tool: str | None
    client: str
    reason: str | None


class Bar(BaseModel):
    """One hour's bar: calls that succeeded stacked under calls that did not."""

    label: str
    x: float
    width: float
    ok: int
    failed: int
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float


class Chart(BaseModel):
    width: int
    height: int
    peak: int
    bars: list[Bar]
    summary: str


class TrafficPage(BaseModel):
    kept: bool
    capped: bool
    calls_hour: int
    calls_day: int
    tools_hour: list[UsageRow]
    tools_day: list[UsageRow]
    clients: list[UsageRow]
    refusals: list[Refusal]
    outcomes: list[str]
    chart: Chart


def not_kept() -> TrafficPage:
    """The page when the trail is not in the database: it says how to turn that on."""
    return summarise([], now=datetime.now(UTC), kept=False)


def read_traffic(engine: Engine) -> TrafficPage:
    """Blocks on the database: run off the event loop, within a deadline."""
    now = datetime.now(UTC)
    since = now - timedelta(hours=HOURS)
    records = list(read_database(engine, since, newest=MAX_RECORDS))
    return summarise(records, now=now, kept=True, capped=len(records) >= MAX_RECORDS)


def summarise(
    records: Sequence[AuditRecord], *, now: datetime, kept: bool, capped: bool = False
) -> TrafficPage:
    hour_ago = now - timedelta(hours=1)
    last_hour = [r for r in records if r.time >= hour_ago]
    day = summarize(records)
    by_calls = sorted(day["client"], key=lambda row: (-row.calls, row.key))
    refusals = [
        Refusal(
            time=r.time,
            status=REFUSAL_STATUS[r.outcome],
            outcome=r.outcome.value,
            tool=r.tool,
            client=r.client_id or r.subject or "(anonymous)",
            reason=r.detail,
        )
        for r in reversed(records)
        if r.outcome in REFUSAL_STATUS
    ][:LATEST_REFUSALS]
    return TrafficPage(
        kept=kept,
        capped=capped,
        calls_hour=len(last_hour),
        calls_day=len(records),
        tools_hour=summarize(last_hour)["tool"],
        tools_day=day["tool"],
        clients=by_calls[:TOP_CLIENTS],
        refusals=refusals,
        outcomes=[o.value for o in Outcome],
        chart=_hourly_chart(records, now),
    )


def _hourly_chart(records: Sequence[AuditRecord], now: datetime) -> Chart:
    """Calls per hour over the last day, oldest on the left."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [end - timedelta(hours=HOURS - i) for i in range(HOURS)]
    ok = [0] * HOURS
    failed = [0] * HOURS
    for r in records:
        slot = int((r.time - starts[0]).total_seconds() // 3600)
        if 0 <= slot < HOURS:
            if r.outcome in FAILURES:
                failed[slot] += 1
            else:
                ok[slot] += 1
    peak = max([o + f for o, f in zip(ok, failed, strict=True)] + [1])
    slot_width = CHART_WIDTH / HOURS
    usable = CHART_HEIGHT - CHART_TOP
    bars = []
    for i, start in enumerate(starts):
        ok_height = usable * ok[i] / peak
        failed_height = usable * failed[i] / peak
        ok_y = CHART_HEIGHT - ok_height
        bars.append(
            Bar(
                label=f"{start:%H}:00",
                x=round(i * slot_width + 2, 1),
                width=round(slot_width - 4, 1),
                ok=ok[i],
                failed=failed[i],
                ok_y=round(ok_y, 1),
                ok_height=round(ok_height, 1),
                failed_y=round(ok_y - failed_height, 1),
                failed_height=round(failed_height, 1),
            )
        )
    busiest = max(range(HOURS), key=lambda i: ok[i] + failed[i])
    summary = (
        f"{sum(ok)} successful and {sum(failed)} failed or refused calls in the last {HOURS} "
        f"hours; the busiest hour, from {bars[busiest].label} UTC, had "
        f"{ok[busiest] + failed[busiest]}."
        if records
        else f"No calls in the last {HOURS} hours."
    )
    return Chart(width=CHART_WIDTH, height=CHART_HEIGHT, peak=peak, bars=bars, summary=summary)
