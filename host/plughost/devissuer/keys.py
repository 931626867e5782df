"""The embedded dev issuer: a real OAuth authorization server for one machine, zero setup.

It signs RS256 tokens with a key generated on first start and kept (mode 0600) in the data
directory, and holds one generated client for the ``client_credentials`` grant. Its HTTP side,
a complete OAuth 2.1 authorization server for interactive MCP clients, is
`plughost.devissuer.server`. The resource server (`plughost.auth`) verifies its tokens exactly
as it verifies Scalekit's, against a JWKS, but reads that JWKS in-process (`published_keys`)
rather than calling its own origin: the same document ``/oauth/jwks.json`` serves, read from
the key store every replica sharing the data directory reads. App assembly hands it a
`DevIssuer` for the ``dev`` preset (`embedded_issuer`), which it knows only as
`EmbeddedIssuer`. It is for development: ``plughost serve`` refuses to expose it beyond
loopback unless told plainly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from plughost.devissuer.paths import JWKS_PATH, TOKEN_PATH
from plughost.settings import AuthSettings

ALGORITHM = "RS256"
TENANT_CLAIM = "oid"
DEV_TENANT = "dev"


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only, refusing to follow or reuse another file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class DevIssuer:
    """Keys, client credentials and token minting, all kept under ``<data_dir>/dev-issuer``."""

    #: Where the resource server fetches the keys and the host exchanges tokens, on its origin.
    jwks_path = JWKS_PATH
    token_path = TOKEN_PATH
    tenant_claim = TENANT_CLAIM

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "dev-issuer"
        self._key = self._load_or_create_key()
        self._jwk = _public_jwk(self._key)
        self.kid: str = self._jwk["kid"]
        self.client_id, self._client_secret = self._load_or_create_client()

    @property
    def client_secret(self) -> str:
        return self._client_secret

    @property
    def _key_path(self) -> Path:
        return self.dir / "signing-key.pem"

    def _load_or_create_key(self) -> rsa.RSAPrivateKey:
        path = self._key_path
        if path.exists():
            return _read_key(path)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(path, pem)
        return key

    def _load_or_create_client(self) -> tuple[str, str]:
        path = self.dir / "client.json"
        if path.exists():
            data = json.loads(path.read_text())
            return data["client_id"], data["client_secret"]
        client_id = f"dev-{secrets.token_hex(4)}"
        secret = secrets.token_urlsafe(32)
        _write_private(path, json.dumps({"client_id": client_id, "client_secret": secret}).encode())
        return client_id, secret

    def jwks(self) -> dict[str, Any]:
        """The key this process signs with, as a JWKS."""
        return {"keys": [self._jwk]}

    async def published_keys(self) -> dict[str, Any]:
        """The JWKS to verify this issuer's tokens with: the key this process signs with and
        the one in the key store now, when another replica sharing the store has replaced it
        (a rotation: delete the key and restart), so every replica accepts the tokens of the
        others while they restart one by one. Read off the event loop, from the store on
        every call: the resource server's key cache decides how often."""
        stored = await anyio.to_thread.run_sync(self._stored_jwk)
        if stored is None or stored["kid"] == self.kid:
            return self.jwks()
        return {"keys": [self._jwk, stored]}

    def _stored_jwk(self) -> dict[str, Any] | None:
        try:
            return _public_jwk(_read_key(self._key_path))
        except FileNotFoundError:  # deleted to rotate: the new one is made at the next start
            return None

    def remember_url(self, issuer: str, resource: str) -> None:
        """Record where the running host serves, so ``plughost token`` mints for it."""
        _write_private(
            self.dir / "issuer.json", json.dumps({"issuer": issuer, "resource": resource}).encode()
        )

    def remembered_url(self) -> tuple[str, str] | None:
        path = self.dir / "issuer.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return data["issuer"], data["resource"]

    def check_secret(self, client_id: str, secret: str) -> bool:
        return hmac.compare_digest(
            client_id.encode(), self.client_id.encode()
        ) & hmac.compare_digest(secret.encode(), self._client_secret.encode())

    def mint(
        self,
        *,
        issuer: str,
        audience: str,
        scopes: Sequence[str],
        subject: str | None = None,
        tenant: str = DEV_TENANT,
        ttl: int = 3600,
        client_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": subject or client_id or self.client_id,
            "client_id": client_id or self.client_id,
            TENANT_CLAIM: tenant,
            "scope": " ".join(scopes),
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            **(extra or {}),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def decode(self, token: str, *, issuer: str) -> dict[str, Any]:
        """Claims of a token this issuer signed for ``issuer`` and that has not expired."""
        try:
            return jwt.decode(
                token,
                self._key.public_key(),
                algorithms=[ALGORITHM],
                issuer=issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidDevToken(type(exc).__name__) from None

    def derived_key(self, purpose: str) -> bytes:
        """A secret for ``purpose`` (e.g. the consent page's CSRF tokens) derived from the
        signing key: the same in every worker process and after a restart, with nothing more
        to store, and rotated with the signing key."""
        der = self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return hmac.new(der, purpose.encode(), hashlib.sha256).digest()


def embedded_issuer(auth: AuthSettings, data_dir: Path) -> DevIssuer | None:
    """The ``dev`` preset's issuer (keys made on first use), or None for a real issuer."""
    return DevIssuer(data_dir) if auth.issuer == "dev" else None


class InvalidDevToken(ValueError):
    """A token this issuer did not sign, or that expired; the message is the reason's name."""


def _read_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


def _public_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The public half of ``key`` as a signing JWK, its id the key's thumbprint."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": _thumbprint(jwk), "use": "sig", "alg": ALGORITHM}


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 key thumbprint: a stable key id derived from the key itself."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True
    )
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )
