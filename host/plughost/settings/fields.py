"""The field shapes settings repeat: a wait in seconds, a count within bounds, a list of names.

Every deadline the host keeps (database, Redis, issuer, plugin, guardrail, readiness) is a wait
with the same rule, positive and often capped, so it is declared one way; so is every size or
count an operator may tune between a floor and a ceiling, and every comma-separated list.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field


def wait(default: float, description: str, *, at_most: float | None = None) -> Any:
    """A wait in seconds: more than zero (a zero deadline fails everything), at most ``at_most``."""
    return Field(default, gt=0, le=at_most, description=description)


def bounded(default: int, description: str, *, at_least: int, at_most: int | None = None) -> Any:
    """A whole number from ``at_least`` to ``at_most`` (no ceiling when that is None)."""
    return Field(default, ge=at_least, le=at_most, description=description)


def names(description: str) -> Any:
    """A `NameList` (``a,b`` or a JSON list), empty until an operator sets it."""
    return Field(default_factory=list, description=description)
