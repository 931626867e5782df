"""The console's cookies: a signed-in session, and the state of one sign-in round trip.

Both are sealed (encrypted and authenticated, Fernet) with a key the host keeps in its
database (`plughost.core.host_keys`), so every replica opens what any replica sealed and a
restart keeps people signed in. The session holds no token at all: only who signed in,
through which client, with which scopes, and until when (the access token's expiry), and
what ends it early: its own id, which sign-out writes to the host's revocation list
(`plughost.core.revocations`) so no replica opens it again, and the sign-in it came from. The
sign-in cookie holds the ``state`` and PKCE verifier of one round trip to the issuer; the
callback clears it, and the issuer redeems its code once, so a round trip completes once.
Cookies are HttpOnly and SameSite=Lax; on an https public URL they are Secure and
``__Host-``-prefixed (bound to this origin, path ``/``).
"""

from __future__ import annotations

import base64
import time
from typing import Literal, TypeVar

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from plughost.core.host_keys import StoredKey

SESSION_KEY_NAME = "console-session"
#: How long a sign-in round trip (issuer, consent page, back) may take.
SIGN_IN_SECONDS = 600
CONSOLE_PATH = "/console"
CALLBACK_PATH = f"{CONSOLE_PATH}/callback"


class ConsoleSession(BaseModel):
    """Who is signed in: what the verified access token said, never the token itself."""

    kind: Literal["session"] = "session"
    subject: str
    client_id: str | None
    tenant: str
    scopes: list[str]
    expires_at: int
    #: What revokes this session: ``console:<id>`` (sign-out), and the token's sign-in.
    revocation_keys: list[str]

    @property
    def own_key(self) -> str:
        return self.revocation_keys[0]


class SignInState(BaseModel):
    """One sign-in in flight: the ``state`` sent, the PKCE verifier, where to go after."""

    kind: Literal["sign-in"] = "sign-in"
    state: str
    verifier: str
    back_to: str
    expires_at: int


Sealed = TypeVar("Sealed", ConsoleSession, SignInState)


class CookieJar:
    """Names, attributes and sealing of the console's two cookies."""

    def __init__(self, key: StoredKey, *, secure: bool) -> None:
        self._key = key
        self.secure = secure
        prefix = "__Host-" if secure else ""
        self.session_name = f"{prefix}plughost_console"
        self.sign_in_name = f"{prefix}plughost_console_signin"
        # __Host- cookies must be on path "/"; otherwise keep them to the console's paths.
        self.session_path = "/" if secure else CONSOLE_PATH
        self.sign_in_path = "/" if secure else CALLBACK_PATH

    def _fernet(self) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(self._key.value()))

    def seal(self, value: ConsoleSession | SignInState) -> str:
        """Blocks on the database the first time (the key): call off the event loop."""
        return self._fernet().encrypt(value.model_dump_json().encode()).decode()

    def open(self, sealed: str | None, kind: type[Sealed]) -> Sealed | None:
        """The cookie's content if it is ours, intact, of this kind and not expired."""
        if not sealed:
            return None
        try:
            value = kind.model_validate_json(self._fernet().decrypt(sealed.encode()))
        except (InvalidToken, ValidationError, ValueError):
            return None
        return value if value.expires_at > time.time() else None

    def set_session(self, response: Response, sealed: str, expires_at: int) -> None:
        self._set(response, self.session_name, sealed, self.session_path, expires_at)

    def set_sign_in(self, response: Response, sealed: str, expires_at: int) -> None:
        self._set(response, self.sign_in_name, sealed, self.sign_in_path, expires_at)

    def clear_session(self, response: Response) -> None:
        self._clear(response, self.session_name, self.session_path)

    def clear_sign_in(self, response: Response) -> None:
        self._clear(response, self.sign_in_name, self.sign_in_path)

    def _set(self, response: Response, name: str, value: str, path: str, expires_at: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max(0, expires_at - int(time.time())),
            path=path,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def _clear(self, response: Response, name: str, path: str) -> None:
        response.delete_cookie(name, path=path, secure=self.secure, httponly=True, samesite="lax")
