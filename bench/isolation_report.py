"""Section 8 of bench/RESULTS.md: a call to an isolated plugin and to a mounted remote server,
each against the same tool in-process, measured in the same run (bench/isolation.py)."""

from __future__ import annotations

from typing import Any

from bench.tables import Runs, median, ratio_of, spread, table

#: The variants in the order of the table; a run without one (an older results.json) skips it.
LABELS = {
    "in_process": "in-process",
    "isolated": "isolated (worker)",
    "remote": "remote (FastMCP mounted over streamable HTTP)",
}


def isolation_section(isolation: dict[str, Any]) -> list[str]:
    """One row per variant: its throughput, latency and CPU, and its ratios to in-process.

    Server CPU counts every process a call runs in (the host and its worker, or the host and
    the upstream server); the host's own share is shown apart for the remote variant, whose
    upstream is not the host's child.
    """
    runs: dict[str, dict[str, Runs]] = isolation["runs"]
    clients = next(iter(runs["in_process"]))
    base = runs["in_process"][clients]
    rows = []
    for kind, label in LABELS.items():
        if kind not in runs:
            continue
        points = runs[kind][clients]
        host = spread(points, "host_cpu_us").show() if "host_cpu_us" in points[0] else "-"
        rows.append(
            [
                label,
                spread(points, "rps").show(),
                spread(points, "p99_ms").show(1),
                spread(points, "cpu_us").show(),
                host,
                ratio_of(points, base, "rps"),
                ratio_of(points, base, "cpu_us"),
            ]
        )
    header = [
        "echo tool",
        "calls/s",
        "p99 ms",
        "server CPU µs/call",
        "of which the host's",
        "calls/s vs in-process",
        "CPU vs in-process",
    ]
    return [f"**{clients} clients**", "", *table(header, rows)]


def isolation_target(isolation: dict[str, Any]) -> tuple[str, str, bool]:
    """Issue 26's budget: an isolated call costs at most ``budget`` times an in-process one."""
    runs = isolation["runs"]
    clients = next(iter(runs["in_process"]))
    ratio = median(runs["isolated"][clients], "cpu_us") / median(
        runs["in_process"][clients], "cpu_us"
    )
    budget = isolation["budget"]
    return (
        f"an isolated call ≤ {budget:g}x an in-process call's CPU",
        f"{ratio:.2f}x",
        ratio <= budget,
    )
