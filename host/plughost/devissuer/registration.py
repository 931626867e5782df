"""Which clients the dev issuer registers, and which redirects it lets them use.

RFC 7591 registration is open (any MCP client may register), so the rules are on what a
client may name: ``https`` redirects anywhere, plain ``http`` ones on loopback only, none with
a fragment; a loopback ``http`` redirect then matches on any port (RFC 8252 §7.3), every other
one exactly, and the host's own console's exactly too (its callback is this server's). Scopes
are checked against what the plugins declare now, not against what the client registered, so
a client registered before a plugin was installed can ask for its scopes.

Registration is anonymous, so every field is bounded (`check_metadata`): a registration is
read back on every ``/authorize`` and consent page, and must cost little there. A client may
not take a name that reads as the console's (`reserved_name`): the consent page would show it.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from mcp.server.auth.provider import RegistrationError
from mcp.shared.auth import InvalidRedirectUriError, InvalidScopeError, OAuthClientInformationFull
from pydantic import AnyUrl, Field

from plughost.ops.loopback import is_loopback

#: The host's own console, registered by the host itself (never through registration).
CONSOLE_CLIENT_ID = "plughost-console"
CONSOLE_CLIENT_NAME = "Plughost console"
#: Bounds on what an anonymous client may register.
MAX_REGISTRATION_BYTES = 16 * 1024
MAX_REDIRECT_URIS = 10
MAX_URI_CHARS = 1024
MAX_NAME_CHARS = 100
MAX_TEXT_CHARS = 200
MAX_LIST_ITEMS = 10
#: Words a registered name may not combine: they would read as this server's own console.
RESERVED_WORDS = ("plughost", "console")
URI_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri")
TEXT_FIELDS = ("software_id", "software_version", "scope")
LIST_FIELDS = ("grant_types", "response_types", "contacts")


def redirect_matches(registered: str, requested: str) -> bool:
    """Exact match, except that a loopback ``http`` redirect may use any port (RFC 8252 §7.3):
    a native client registers once and listens on whatever port is free at sign-in."""
    if registered == requested:
        return True
    a, b = urlsplit(registered), urlsplit(requested)
    return (
        a.scheme == b.scheme == "http"
        and is_loopback(a.hostname)
        and (a.hostname, a.path, a.query, a.fragment) == (b.hostname, b.path, b.query, b.fragment)
    )


def check_redirect_uri(uri: str) -> None:
    """Registrable redirects: ``https`` anywhere, plain ``http`` on loopback only, no fragment."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.hostname:
        raise RegistrationError("invalid_redirect_uri", f"{uri}: needs a host and no fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return
    raise RegistrationError(
        "invalid_redirect_uri",
        f"{uri}: use an https:// URL or a loopback http:// address such as "
        "http://127.0.0.1:PORT/callback (RFC 8252)",
    )


def check_metadata(client: OAuthClientInformationFull) -> None:
    """Every field of a registration within bounds, its redirects registrable, its name not
    the console's; `RegistrationError` (RFC 7591 §3.2.2) naming the first field that is not."""
    uris = client.redirect_uris or []
    if len(uris) > MAX_REDIRECT_URIS:
        _refuse("redirect_uris", f"at most {MAX_REDIRECT_URIS} may be registered")
    for uri in uris:
        if len(str(uri)) > MAX_URI_CHARS:
            raise RegistrationError(
                "invalid_redirect_uri", f"a redirect URI is longer than {MAX_URI_CHARS} characters"
            )
        check_redirect_uri(str(uri))
    if client.client_name is not None and len(client.client_name) > MAX_NAME_CHARS:
        _refuse("client_name", f"at most {MAX_NAME_CHARS} characters")
    if client.client_name is not None and reserved_name(client.client_name):
        _refuse("client_name", f"{client.client_name!r} is reserved for this server's console")
    for name in URI_FIELDS:
        if len(str(getattr(client, name) or "")) > MAX_URI_CHARS:
            _refuse(name, f"at most {MAX_URI_CHARS} characters")
    for name in TEXT_FIELDS:
        if len(getattr(client, name) or "") > MAX_TEXT_CHARS:
            _refuse(name, f"at most {MAX_TEXT_CHARS} characters")
    for name in LIST_FIELDS:
        items = getattr(client, name) or []
        if len(items) > MAX_LIST_ITEMS or any(len(str(i)) > MAX_TEXT_CHARS for i in items):
            _refuse(name, f"at most {MAX_LIST_ITEMS} items of {MAX_TEXT_CHARS} characters")
    if client.jwks is not None:
        _refuse("jwks", "this server does not use client keys")


def reserved_name(name: str) -> bool:
    """Whether ``name``, its letters only, compatibility-folded, says both reserved words."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    letters = "".join(ch for ch in folded if ch.isalnum())
    return all(word in letters for word in RESERVED_WORDS)


def _refuse(field: str, why: str) -> None:
    raise RegistrationError("invalid_client_metadata", f"{field}: {why}")


class RegisteredClient(OAuthClientInformationFull):
    """A registered client, checking its requests against this server's rules, not only what
    it registered: scopes against what the plugins declare now, redirects per RFC 8252."""

    declared: list[str] = Field(default_factory=list, exclude=True)

    def validate_scope(self, requested_scope: str | None) -> list[str] | None:
        requested = list(dict.fromkeys((requested_scope or "").split()))
        if not requested:
            return None
        unknown = [scope for scope in requested if scope not in self.declared]
        if unknown:
            raise InvalidScopeError(
                f"unknown scope(s) {' '.join(unknown)}; this server declares: "
                + " ".join(self.declared)
            )
        return requested

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        if redirect_uri is None:
            return super().validate_redirect_uri(None)
        registered = [str(r) for r in self.redirect_uris or []]
        if self.client_id == CONSOLE_CLIENT_ID:
            if str(redirect_uri) in registered:
                return redirect_uri
        elif any(redirect_matches(r, str(redirect_uri)) for r in registered):
            return redirect_uri
        raise InvalidRedirectUriError(
            f"redirect_uri {redirect_uri} is not one this client registered"
        )
