"""`HeadDeadline`: uvicorn's HTTP protocol with a deadline on reading each request's head.

uvicorn closes a connection that stays idle after a response (``timeout_keep_alive``), but
nothing else: a connection that never sends a request, or sends its request line and headers
a byte at a time (slowloris), stays open for as long as the client likes, since the keep-alive
timer is armed only once a response is complete and cancelled by any byte received. This
subclass arms a second timer when a connection opens and when the first bytes of its next
request arrive, and cancels it once the request's head is complete: a client gets
``header_timeout`` seconds to say what it wants. Reading the body is the application's
(``PLUGHOST_MAX_REQUEST_BYTES`` caps its size).

uvicorn builds its protocol from a class; `deadline_protocol` gives it this one with the
deadline bound (a `functools.partial`, which pickles for worker processes).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class HeadDeadline(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's protocol (h11 or httptools, whichever it picks), plus the head deadline."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self._arm()  # the first bytes of a request: its head is now on the clock
        super().data_received(data)
        if self.cycle is not cycle:
            self._disarm()  # a whole request head arrived (a new request cycle began)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        """The head did not arrive in time: close, as an idle keep-alive connection is."""
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def deadline_protocol(header_timeout: float) -> Any:
    """What uvicorn's ``http`` option takes: `HeadDeadline` with its deadline bound."""
    return functools.partial(HeadDeadline, header_timeout=header_timeout)
