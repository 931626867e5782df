"""Pagination cursors a plugin never has to encode, sign or check itself.

A cursor tells a tool where the previous page ended. Agents must treat it as opaque, and a tool
must be able to trust it: a cursor an agent edited, made up, or copied from another tool or
another organisation could otherwise steer a query anywhere. `Pages` (``ctx.pages`` in a tool)
turns a position (any JSON value: the last row's sort key and id) into a cursor signed with a key
the host holds, bound to the tool and the caller's tenant, and reads it back only if the
signature matches. Anything else is `InvalidInput`, so the agent is told to start over.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import Field, StringConstraints

from plughost.sdk.errors import InvalidInput

T = TypeVar("T")

#: The longest cursor a tool accepts or issues: room for a sort key of a few hundred characters.
MAX_CURSOR_LENGTH = 4096
#: The most items one page may hold, whatever a tool's own ``PageSize`` bound says.
MAX_PAGE_SIZE = 500
#: Bytes of HMAC-SHA256 kept in a cursor: 128 bits, beyond any guessing.
_MAC_BYTES = 16

Cursor = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_CURSOR_LENGTH, pattern=r"^[A-Za-z0-9_.-]+$"),
    Field(description="The `next_cursor` of the previous page; omit it for the first page."),
]
"""A tool argument holding a cursor this tool issued: bounded, URL-safe characters only."""

PageSize = Annotated[int, Field(ge=1, le=100, description="At most this many items (1 to 100).")]
"""A tool argument for how many items a page holds: 1 to 100."""


class Pages:
    """Cursors for one call: signed with the host's key, bound to one tool and one tenant.

    ``key`` returns the host's secret (fetched only when a cursor is made or read, so a call
    that pages nothing never waits for it) and ``binding`` names what a cursor is valid for;
    the host builds one per call and hands it to the tool as ``ctx.pages``.
    """

    def __init__(self, key: Callable[[], bytes], binding: str) -> None:
        self._key = key
        self._binding = binding.encode()

    def cursor(self, position: Any) -> str:
        """An opaque cursor holding ``position`` (any JSON value), to return as ``next_cursor``.

        The position is signed, not encrypted: never put a secret in it.
        """
        payload = _b64(json.dumps(position, separators=(",", ":"), sort_keys=True).encode())
        token = f"{payload}.{_b64(self._mac(payload))}"
        if len(token) > MAX_CURSOR_LENGTH:
            raise ValueError(
                f"the cursor for this position is {len(token)} characters; the limit is "
                f"{MAX_CURSOR_LENGTH}: keep only the last row's sort key and id in a position"
            )
        return token

    def after(self, cursor: str | None) -> Any:
        """The position a cursor from `cursor` holds; None for no cursor (the first page).

        A cursor this tool did not issue for this organisation (edited, made up, from another
        tool or tenant) is refused with `InvalidInput`.
        """
        if cursor is None or cursor == "":
            return None
        payload, _, mac = cursor.partition(".")
        try:
            genuine = hmac.compare_digest(_unb64(mac), self._mac(payload))
            position = json.loads(_unb64(payload)) if genuine else None
        except (binascii.Error, UnicodeError, ValueError):
            genuine, position = False, None
        if not genuine:
            raise InvalidInput(
                "cursor is not one this tool returned; pass a next_cursor exactly as you got "
                "it, or omit cursor to start from the first page"
            )
        return position

    def page(
        self, rows: Sequence[T], size: int, position: Callable[[T], Any]
    ) -> tuple[list[T], str | None]:
        """Cut ``rows`` (fetched with ``limit(size + 1)``) into a page and the next page's cursor.

        The extra row only says whether there is a next page; the cursor holds
        ``position(last row of the page)``, or is None on the last page.
        """
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size {size} is outside 1..{MAX_PAGE_SIZE}; bound it first")
        shown = list(rows[:size])
        if len(rows) <= size:
            return shown, None
        return shown, self.cursor(position(shown[-1]))

    def _mac(self, payload: str) -> bytes:
        key = self._key()
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        message = self._binding + b"\x00" + payload.encode()
        return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
