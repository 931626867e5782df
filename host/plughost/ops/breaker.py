"""A circuit breaker: stop waiting on a dependency that has just failed.

Without one, a stalled Redis costs every call the full storage timeout, and a burst of calls
each wait it in turn. After a failure the breaker is *open*: calls skip the dependency at once
(and the caller applies its fail-open or fail-closed policy) until ``cooldown`` seconds have
passed; then one call at a time may try it again, and the first success closes the breaker.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Whether to try a dependency now, from how its last attempts went.

    Not thread-safe by design: it lives on one event loop, and every method is synchronous, so
    concurrent calls cannot interleave inside it.
    """

    def __init__(self, cooldown: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._cooldown = cooldown
        self._clock = clock
        self._failed_at: float | None = None
        self._trial_at: float | None = None

    @property
    def is_open(self) -> bool:
        """True while the dependency is being skipped after a failure."""
        return self._failed_at is not None

    def allow(self) -> bool:
        """Whether this call may try the dependency.

        While open, the first call after the cooldown is let through as a trial and later calls
        are not, until that trial reports back or itself takes longer than the cooldown (a trial
        that was cancelled never reports).
        """
        if self._failed_at is None:
            return True
        now = self._clock()
        since = self._trial_at if self._trial_at is not None else self._failed_at
        if now - since < self._cooldown:
            return False
        self._trial_at = now
        return True

    def succeeded(self) -> None:
        """The dependency answered: close the breaker."""
        self._failed_at = self._trial_at = None

    def failed(self) -> None:
        """The dependency failed or timed out: skip it for the next ``cooldown`` seconds."""
        self._failed_at = self._clock()
        self._trial_at = None

    def seconds_since_failure(self) -> float:
        """How long ago the failure that opened the breaker was (0 when closed)."""
        return 0.0 if self._failed_at is None else self._clock() - self._failed_at
