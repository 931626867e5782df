"""Runs of one load point summarised for the report: medians, spreads, ratios, Markdown tables.

Shared by bench/report.py and the sections kept in modules of their own (bench/
isolation_report.py), so every table reads the runs the same way.
"""

from __future__ import annotations

from bench.stats import Spread, ratio

#: The repeated measurements of one load point (calls/s, latencies, CPU per call).
Runs = list[dict[str, float]]


def spread(runs: Runs, key: str, scale: float = 1.0) -> Spread:
    """The median and range of ``key`` over the runs."""
    return Spread.of([r[key] * scale for r in runs])


def median(runs: Runs, key: str) -> float:
    return spread(runs, key).median


def ratio_of(top: Runs | None, bottom: Runs | None, key: str) -> str:
    """The ratio of the medians, for a table cell; "-" where either side was not measured."""
    if not top or not bottom:
        return "-"
    return f"{ratio(median(top, key), median(bottom, key)):.2f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
