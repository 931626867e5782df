"""Verify a bearer JWT and turn its claims into a `Caller`.

One verifier serves every plugin. It checks, in order: size, header, algorithm allow-list
(asymmetric only), the signing key from the JWKS cache and the one algorithm that key is for
(its JWK ``alg``, else its type's: an RSA key signs RS256 only), signature, ``iss``, ``aud``,
``exp``, ``nbf`` and ``iat`` (with a small leeway), a lifetime no longer than the operator's
cap, then reads subject, client, tenant and scopes. Verified tokens are remembered, by hash,
until they expire, so a client's next call costs a dictionary lookup instead of a signature
check. With a revocation list (the embedded issuer's), every token, remembered or not, is
also looked up in it (`plughost.core.revocations.RevokedKeys`: a set lookup, and one database
query per interval per replica).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from plughost.auth.jwks import JWKSCache
from plughost.core.revocations import RevokedKeys, token_keys
from plughost.sdk.context import Caller

log = logging.getLogger("plughost.auth")

REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]

#: The refusal reason when no signing keys could be fetched: the issuer is down, not the token.
ISSUER_UNAVAILABLE = "issuer unavailable"


class InvalidToken(Exception):
    """Why a token was refused. The reason is for logs and metrics, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifierConfig:
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    leeway: int
    max_token_bytes: int
    tenant_claim: str
    default_tenant: str | None
    passthrough_claims: tuple[str, ...]
    #: Longest lifetime accepted: ``exp - iat``, or ``exp`` - now for a token without ``iat``.
    max_lifetime: int = 86_400


@dataclass(frozen=True)
class Verified:
    caller: Caller
    expires_at: int
    claims: dict[str, Any]
    kid: str | None = None


class TokenVerifier:
    def __init__(
        self, config: VerifierConfig, keys: JWKSCache, *, cache_size: int = 10_000
    ) -> None:
        self.config = config
        self.keys = keys
        self._cache: OrderedDict[bytes, Verified] = OrderedDict()
        self._cache_size = cache_size
        #: Revoked sign-ins to refuse (the embedded issuer's); None checks none.
        self.revocations: RevokedKeys | None = None

    async def verify(self, token: str) -> Verified:
        """Return the verified identity, or raise `InvalidToken` with the reason."""
        verified = await self._remembered_or_verified(token)
        revocations = self.revocations
        if revocations is not None and await revocations.any_revoked(token_keys(verified.claims)):
            raise InvalidToken("token revoked")
        return verified

    async def _remembered_or_verified(self, token: str) -> Verified:
        if len(token) > self.config.max_token_bytes:
            raise InvalidToken("token too large")
        digest = hashlib.sha256(token.encode()).digest()
        hit = self._cache.get(digest)
        if hit is not None:
            # Expired, or signed by a key the issuer has since withdrawn: verify afresh.
            if hit.expires_at + self.config.leeway > time.time() and self.keys.holds(hit.kid):
                self._cache.move_to_end(digest)
                return hit
            del self._cache[digest]
        verified = await self._verify(token)
        self._cache[digest] = verified
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return verified

    async def _verify(self, token: str) -> Verified:
        header = _unverified_header(token)
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        if not self.keys.holds(kid) and _unverified_issuer(token) not in self.config.issuers:
            raise InvalidToken("wrong issuer")  # never fetch keys for another issuer's token
        key = await self.keys.get(kid)
        if key is None:
            if self.keys.unavailable:
                raise InvalidToken(ISSUER_UNAVAILABLE)
            raise InvalidToken("unknown signing key")
        if alg != key.algorithm_name:
            raise InvalidToken("algorithm not the signing key's")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=list(self.config.audiences),
                issuer=list(self.config.issuers),
                leeway=self.config.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_iat": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from None
        self._check_lifetime(claims)
        return Verified(
            caller=self._caller(claims), expires_at=int(claims["exp"]), claims=claims, kid=kid
        )

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """A token may not claim to live longer than the cap (a stolen one would last)."""
        issued = claims.get("iat")
        start = issued if isinstance(issued, int | float) else time.time()
        if float(claims["exp"]) - start > self.config.max_lifetime + self.config.leeway:
            raise InvalidToken("token lifetime too long")

    def _caller(self, claims: dict[str, Any]) -> Caller:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("missing claim sub")
        tenant = claims.get(self.config.tenant_claim, self.config.default_tenant)
        if not isinstance(tenant, str) or not tenant:
            raise InvalidToken(f"no tenant claim {self.config.tenant_claim!r}")
        client_id = claims.get("client_id") or claims.get("azp")
        return Caller(
            subject=subject,
            client_id=client_id if isinstance(client_id, str) else None,
            tenant_id=tenant,
            scopes=frozenset(read_scopes(claims)),
            claims={k: claims[k] for k in self.config.passthrough_claims if k in claims},
        )


#: Why PyJWT refused a token, in the words the audit trail and metrics use (a bounded set).
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.DecodeError, "malformed token"),
)


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return f"invalid token ({type(exc).__name__})"


def _unverified_header(token: str) -> dict[str, Any]:
    """The token's JOSE header, to pick the key and check the algorithm before verifying.

    Only the header segment is decoded here: `jwt.decode` then parses and checks the whole
    token once (PyJWT's own ``get_unverified_header`` would parse all of it a first time,
    which cost a third of a cold verification).
    """
    segments = token.split(".")
    if len(segments) != 3:
        raise InvalidToken("malformed token")
    header = _segment(segments[0])
    if not isinstance(header.get("kid", ""), str):
        raise InvalidToken("malformed token")
    return header


def _unverified_issuer(token: str) -> Any:
    """The ``iss`` a token claims, read without verifying: only to decide whether a key the
    host does not hold is worth fetching."""
    return _segment(token.split(".")[1]).get("iss")


def _segment(encoded: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:  # bad base64 (binascii.Error), bad UTF-8 or bad JSON
        raise InvalidToken("malformed token") from None
    if not isinstance(value, dict):
        raise InvalidToken("malformed token")
    return value


def read_scopes(claims: dict[str, Any]) -> list[str]:
    """Scopes from ``scope`` (space-separated), ``scp`` (string or list) or ``scopes`` (list)."""
    found: list[str] = []
    for name in ("scope", "scp", "scopes"):
        value = claims.get(name)
        if isinstance(value, str):
            found.extend(value.split())
        elif isinstance(value, Sequence):
            found.extend(v for v in value if isinstance(v, str))
    return list(dict.fromkeys(found))
