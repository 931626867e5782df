"""Which clients the dev issuer registers, and which redirects it lets them use.

RFC 7591 registration is open (any MCP client may register), so the rules are on what a
client may name: ``https`` redirects anywhere, plain ``http`` ones on loopback only, none with
a fragment; a loopback ``http`` redirect then matches on any port (RFC 8252 §7.3), every other
one exactly. Scopes are checked against what the plugins declare now, not against what the
client registered, so a client registered before a plugin was installed can ask for its scopes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.server.auth.provider import RegistrationError
from mcp.shared.auth import InvalidRedirectUriError, InvalidScopeError, OAuthClientInformationFull
from pydantic import AnyUrl, Field

from plughost.ops.loopback import is_loopback


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
        if any(redirect_matches(str(r), str(redirect_uri)) for r in self.redirect_uris or []):
            return redirect_uri
        raise InvalidRedirectUriError(
            f"redirect_uri {redirect_uri} is not one this client registered"
        )
