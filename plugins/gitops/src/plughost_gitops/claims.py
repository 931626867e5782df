"""Which apps this replica is changing right now, so two changes of one app never overlap.

Calls on one replica take turns on its clone (`Repository.session`). Without this, a second
deploy of an app would wait for the first, then build on the first's result and push over it:
both agents would be told "ok", and the first's release replaced by a call that never knew it
existed. Across replicas the remote's push check already refuses that second writer with a
conflict (`_push`); claiming the app gives a second call on the same replica the same answer,
at once, before it waits for the clone or changes anything.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from plughost import Conflict


class AppClaims:
    """The (environment, app) pairs a deploy or rollback on this replica is changing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed: set[tuple[str, str]] = set()

    @contextmanager
    def claim(self, environment: str, app: str) -> Iterator[None]:
        """Hold ``app`` in ``environment`` for one change; a `Conflict` if it is already held."""
        key = (environment, app)
        with self._lock:
            if key in self._claimed:
                raise Conflict(
                    f"{app} in {environment} is being changed by another call on this server "
                    "right now; nothing was changed: read it again once that change is done, "
                    "and decide",
                    environment=environment,
                    app=app,
                )
            self._claimed.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._claimed.discard(key)
