"""Medians with their spread, and how to print them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """The median of repeated runs, with the lowest and highest run."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no runs to summarise")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def show(self, digits: int = 0, unit: str = "") -> str:
        """``1234 (1200-1300)``: median, then the range of the runs."""
        if self.runs == 1:
            return f"{self.median:,.{digits}f}{unit}"
        return f"{self.median:,.{digits}f}{unit} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")
