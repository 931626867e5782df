"""A database outage met by a call: recognised among the driver's errors, and logged once.

When PostgreSQL is down or unreachable, or SQLite stays locked beyond its wait, every call that
touches storage fails the same way at once. That is not the plugin's bug: the call is answered
``unavailable`` with ``Retry-After`` (`plughost.core.verdicts.DatabaseUnavailable`), and the
operator's log gets one line when the outage is first met and one summary a while later while
it lasts, rather than a traceback per call.

Errors that are the plugin's own (a syntax error, a missing table, a constraint) are not
outages: SQLAlchemy reports those as other types, or, for SQLite, as an ``OperationalError``
whose message is not about a lock.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time

from sqlalchemy import exc as sa_exc

log = logging.getLogger("plughost.database")

#: At most one log line about an ongoing outage per this many seconds.
REPEAT_SECONDS = 30.0


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from) says the database is not answering."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _says_outage(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _says_outage(error: BaseException) -> bool:
    # A pool timeout (sqlalchemy.exc.TimeoutError): every connection busy, none freed in time.
    if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if not isinstance(error, sa_exc.OperationalError):
        return False
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, sqlite3.Error):
        text = str(error.orig).lower()
        return "locked" in text or "busy" in text
    # PostgreSQL's operational errors: refused, reset, shut down, cancelled by statement_timeout.
    return True


class OutageLog:
    """One warning when calls start failing on the database, then at most one summary per
    ``repeat_seconds`` while they go on failing (with how many failed since). A quiet spell
    as long ends the outage: the next failure is logged as a new one."""

    def __init__(self, repeat_seconds: float = REPEAT_SECONDS) -> None:
        self._repeat = repeat_seconds
        self._lock = threading.Lock()
        self._logged_at = self._failed_at = -math.inf
        self._since = 0

    def failed(self, tool: str, error: BaseException) -> None:
        """Note a call that met the outage; log if it is the first in a while."""
        now = time.monotonic()
        with self._lock:
            new = now - self._failed_at > self._repeat
            self._failed_at = now
            self._since += 1
            if not new and now - self._logged_at < self._repeat:
                return
            count, self._logged_at, self._since = self._since, now, 0
        if new:
            log.warning(
                "the database is not answering (%s); calls that need it are answered "
                "'unavailable' with Retry-After until it is back (first: %s)",
                _reason(error),
                tool,
            )
        else:
            log.warning(
                "the database is still not answering: %d call(s) since (%s)",
                count,
                _reason(error),
            )


def _reason(error: BaseException) -> str:
    """The driver's own message, first line: never SQLAlchemy's, which quotes the statement
    and its parameters (a caller's data)."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:200] if text else ''}"
