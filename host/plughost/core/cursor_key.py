"""The key that signs pagination cursors, kept in the database every replica shares.

A cursor one replica issues must be accepted by every other replica behind the load balancer,
and by the same replica after a restart: the key is a `StoredKey` (`plughost.core.host_keys`).
Plugins never see the key; they get `plughost.sdk.pagination.Pages` bound to their tool and
tenant.
"""

from __future__ import annotations

from sqlalchemy import Engine

from plughost.core.host_keys import StoredKey
from plughost.sdk.pagination import Pages

CURSOR_KEY_NAME = "cursor-hmac"


class CursorKey(StoredKey):
    """The host's cursor key, and `Pages` made from it for each call."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, CURSOR_KEY_NAME)

    def pages(self, tool: str, tenant: str) -> Pages:
        """Cursors for one call of ``tool`` by ``tenant``: valid for that pair only."""
        return Pages(self.value, f"{tool}\x00{tenant}")
