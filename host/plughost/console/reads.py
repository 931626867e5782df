"""The console's database reads: off the event loop, a few at a time, within a deadline.

A stalled database must give a 503 page, never a frozen server: every read that may touch it
(the session key, the traffic summary, the dev client's registration) goes through
`DatabaseReads`, and a read that times out or fails raises `DatabaseStalled`, which the routes
answer with that page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy.exc import SQLAlchemyError

#: Database reads of the console at a time (the rest wait, within the deadline).
DATABASE_READERS = 2

T = TypeVar("T")


class DatabaseStalled(RuntimeError):
    """A console read did not finish within the deadline, or the database refused it."""


class DatabaseReads:
    """Runs the console's blocking reads on worker threads, within ``timeout`` seconds each."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._readers = anyio.CapacityLimiter(DATABASE_READERS)

    async def __call__(self, func: Callable[..., T], *args: Any) -> T:
        """A call that may touch the database: off the loop, within the deadline."""
        try:
            with anyio.fail_after(self.timeout):
                return await anyio.to_thread.run_sync(
                    partial(func, *args), abandon_on_cancel=True, limiter=self._readers
                )
        except TimeoutError:
            raise DatabaseStalled(
                f"The database did not answer within {self.timeout}s; try again shortly."
            ) from None
        except SQLAlchemyError as exc:
            raise DatabaseStalled(
                f"The database could not be read ({type(exc).__name__}); try again shortly."
            ) from None
