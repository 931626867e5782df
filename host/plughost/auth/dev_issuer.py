"""The embedded dev issuer: a real OAuth authorization server for one machine, zero setup.

It signs RS256 tokens with a key generated on first start and kept (mode 0600) in the data
directory, publishes its JWKS and RFC 8414 metadata, and runs a client-credentials token
endpoint for one generated client. The host verifies its tokens exactly as it verifies
Scalekit's: through the JWKS, over HTTP. It is for development: ``plughost serve`` refuses to
expose it beyond loopback unless told plainly.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ALGORITHM = "RS256"
TENANT_CLAIM = "oid"
DEV_TENANT = "dev"
TOKEN_PATH = "/oauth/token"
AUTHORIZE_PATH = "/oauth/authorize"
JWKS_PATH = "/oauth/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"


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

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "dev-issuer"
        self._key = self._load_or_create_key()
        public = self._key.public_key()
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
        self.kid = _thumbprint(jwk)
        self._jwk = {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}
        self.client_id, self._client_secret = self._load_or_create_client()

    @property
    def client_secret(self) -> str:
        return self._client_secret

    def _load_or_create_key(self) -> rsa.RSAPrivateKey:
        path = self.dir / "signing-key.pem"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{path} does not hold an RSA private key")
            return key
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
        return {"keys": [self._jwk]}

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

    def routes(
        self,
        *,
        issuer: str,
        resource: str,
        scopes: Callable[[], list[str]],
        ttl: int,
    ) -> list[Route]:
        """Metadata, JWKS and token endpoint, served by the host itself."""
        endpoints = _Endpoints(self, issuer=issuer, resource=resource, scopes=scopes, ttl=ttl)
        return [
            Route(METADATA_PATH, endpoints.metadata, methods=["GET"]),
            Route(AUTHORIZE_PATH, endpoints.authorize, methods=["GET", "POST"]),
            Route(JWKS_PATH, endpoints.keys, methods=["GET"]),
            Route(TOKEN_PATH, endpoints.token, methods=["POST"]),
        ]


@dataclass
class _Endpoints:
    """The dev issuer's HTTP endpoints for one host (its URL, resource and scopes)."""

    dev: DevIssuer
    issuer: str
    resource: str
    scopes: Callable[[], list[str]]
    ttl: int

    async def metadata(self, _request: Request) -> JSONResponse:
        issuer = self.issuer
        return JSONResponse(
            {
                "issuer": issuer,
                # RFC 8414 lets an issuer without browser flows omit this, but common
                # clients (the MCP Python SDK) insist on it; it answers with an OAuth error.
                "authorization_endpoint": issuer + AUTHORIZE_PATH,
                "token_endpoint": issuer + TOKEN_PATH,
                "jwks_uri": issuer + JWKS_PATH,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "response_types_supported": [],
                "scopes_supported": self.scopes(),
            },
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def keys(self, _request: Request) -> JSONResponse:
        return JSONResponse(self.dev.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def token(self, request: Request) -> Response:
        form = await request.form()
        client_id, secret = _client_auth(request, form)
        if client_id is None or secret is None or not self.dev.check_secret(client_id, secret):
            return _oauth_error(
                401,
                "invalid_client",
                "client authentication failed",
                {"WWW-Authenticate": 'Basic realm="plughost-dev"'},
            )
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "only client_credentials is supported"
            )
        return self._client_credentials(form, client_id)

    def _client_credentials(self, form: Any, client_id: str) -> Response:
        known = self.scopes()
        requested = str(form.get("scope") or "").split() or known
        unknown = sorted(set(requested) - set(known))
        if unknown:
            return _oauth_error(400, "invalid_scope", f"unknown scope(s): {' '.join(unknown)}")
        target = str(form.get("resource") or self.resource)
        if target.rstrip("/") != self.resource.rstrip("/"):
            return _oauth_error(
                400, "invalid_target", f"this issuer only issues tokens for {self.resource}"
            )
        access_token = self.dev.mint(
            issuer=self.issuer,
            audience=self.resource,
            scopes=requested,
            ttl=self.ttl,
            client_id=client_id,
        )
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": self.ttl,
                "scope": " ".join(requested),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    async def authorize(self, _request: Request) -> JSONResponse:
        return _oauth_error(
            400,
            "unsupported_response_type",
            "the dev issuer supports only the client_credentials grant at " + TOKEN_PATH,
        )


def _client_auth(request: Request, form: Any) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            raw = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None, None
        from urllib.parse import unquote

        client_id, _, secret = raw.partition(":")
        return unquote(client_id), unquote(secret)
    client_id, secret = form.get("client_id"), form.get("client_secret")
    return (str(client_id) if client_id else None), (str(secret) if secret else None)


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 key thumbprint: a stable key id derived from the key itself."""
    import hashlib

    canonical = json.dumps(
        {k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True
    )
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )
