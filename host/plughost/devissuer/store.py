"""What the dev issuer remembers between requests, kept in the host's database.

Client registrations must outlive a restart (an MCP client registers once and keeps its
client id), and with ``plughost serve --workers N`` the consent page, the code and the token
exchange of one sign-in may each reach a different process: so registrations, pending
authorization requests, authorization codes and refresh tokens all live in the database every
process shares, never in one process's memory.

Codes, refresh tokens and pending-request ids are bearer secrets: only their SHA-256 is
stored, so reading the database does not hand out a usable code or token. Single use is one
conditional ``UPDATE`` (or ``DELETE``) whose row count says who won, so two racing requests
cannot both redeem the same code or refresh token.

The tables hang off `oauth_metadata` (one module-level `MetaData`) so the host's migrations
can import them. The methods here block; callers run them off the event loop
(`anyio.to_thread`), where the engine's connect, pool and statement deadlines bound them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from mcp.shared.auth import OAuthClientInformationFull
from pydantic import BaseModel
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from plughost.core.schema import ensure_schema

oauth_metadata = MetaData()

clients_table = Table(
    "plughost_oauth_clients",
    oauth_metadata,
    Column("client_id", String(64), primary_key=True),
    Column("registration", Text, nullable=False),
    Column("created_at", Integer, nullable=False),
    #: The address it registered from (registrations are limited per address).
    Column("registered_from", String(64), index=True),
    #: When it was first issued a token; a registration never used expires.
    Column("used_at", Integer),
)


def _secret_table(name: str, key: str, *columns: Column[Any]) -> Table:
    """A table of one kind of bearer secret, keyed by the secret's `digest` (never the value)."""
    return Table(name, oauth_metadata, Column(key, String(64), primary_key=True), *columns)


def _expires_at() -> Column[int]:
    """When a stored secret lapses; indexed, as every save prunes the rows past it."""
    return Column("expires_at", Integer, nullable=False, index=True)


requests_table = _secret_table(
    "plughost_oauth_requests", "id_hash", Column("request", Text, nullable=False), _expires_at()
)
codes_table = _secret_table(
    "plughost_oauth_codes",
    "code_hash",
    Column("grant", Text, nullable=False),
    _expires_at(),
    Column("used_at", Integer),
)
refresh_tokens_table = _secret_table(
    "plughost_oauth_refresh_tokens",
    "token_hash",
    Column("family", String(64), nullable=False, index=True),
    Column("grant", Text, nullable=False),
    _expires_at(),
    Column("used_at", Integer),
    Column("revoked_at", Integer),
)

#: Used codes and refresh tokens are kept this long past their expiry, so a late replay is
#: still recognised as a replay (and its family revoked) rather than as an unknown token.
REPLAY_MEMORY_SECONDS = 86_400
#: A stored registration longer than this is not read back (none can be registered now; one
#: kept from before the bounds is treated as unknown rather than parsed on every request).
MAX_REGISTRATION_CHARS = 32_768


class PendingAuthorization(BaseModel):
    """An authorization request waiting for the user's decision on the consent page."""

    client_id: str
    redirect_uri: str
    redirect_uri_provided_explicitly: bool
    scopes: list[str]
    code_challenge: str
    state: str | None
    resource: str


class Grant(BaseModel):
    """What one sign-in granted; every code and refresh token of the sign-in carries it.

    ``family`` names the sign-in: the code and every refresh token rotated from it share it,
    so a replay anywhere in the chain revokes all of them at once.
    """

    client_id: str
    scopes: list[str]
    resource: str
    subject: str
    family: str


class CodeGrant(Grant):
    """A grant as an authorization code carries it, bound to the redirect and PKCE challenge."""

    redirect_uri: str
    redirect_uri_provided_explicitly: bool
    code_challenge: str


class Redeemable(BaseModel):
    """A stored code or refresh token as found, used or not: the caller decides on replays."""

    grant: CodeGrant | Grant
    expires_at: int
    used: bool
    revoked: bool = False


def digest(secret: str) -> str:
    """The stored form of a code, token or request id: its SHA-256, never the value."""
    return hashlib.sha256(secret.encode()).hexdigest()


class OAuthStore:
    """The dev issuer's tables on the host's engine; every method blocks (run it in a thread)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Make sure the tables exist, once per process, on first use (after the host's
        migrations ran at start-up, which create them); a database that is down is retried
        on the next use. Never at build time: tables made before the migrations run would
        have the host's migration track adopt a database that lacks its other tables."""
        with self._lock:
            if not self._ready:
                ensure_schema(self._engine, list(oauth_metadata.tables.values()))
                self._ready = True

    # --- clients ---------------------------------------------------------------------------

    def save_client(
        self, client: OAuthClientInformationFull, *, address: str | None, unused_ttl: int
    ) -> None:
        """Store a new registration, first dropping those never used for ``unused_ttl``."""
        self.ensure()
        now = int(time.time())
        table = clients_table
        with self._engine.begin() as conn:
            conn.execute(
                delete(table).where(
                    table.c.used_at.is_(None), table.c.created_at <= now - unused_ttl
                )
            )
            conn.execute(
                table.insert().values(
                    client_id=client.client_id,
                    registration=client.model_dump_json(exclude_none=True),
                    created_at=now,
                    registered_from=address,
                )
            )

    def registrations_from(self, address: str, since: int) -> tuple[int, int | None]:
        """How many clients ``address`` registered at or after ``since``, and the oldest's time."""
        self.ensure()
        table = clients_table
        with self._engine.connect() as conn:
            row = conn.execute(
                select(func.count(), func.min(table.c.created_at)).where(
                    table.c.registered_from == address, table.c.created_at >= since
                )
            ).one()
        return int(row[0]), row[1]

    def mark_used(self, client_id: str) -> None:
        """The client was issued a token: its registration no longer expires unused."""
        self.ensure()
        table = clients_table
        with self._engine.begin() as conn:
            conn.execute(
                sql_update(table)
                .where(table.c.client_id == client_id, table.c.used_at.is_(None))
                .values(used_at=int(time.time()))
            )

    def put_client(self, client: OAuthClientInformationFull) -> None:
        """Store a first-party client the host registers itself (the console), replacing its
        earlier registration: its redirect URI follows the server's public URL."""
        self.ensure()
        registration = client.model_dump_json(exclude_none=True)
        where = clients_table.c.client_id == client.client_id
        try:
            with self._engine.begin() as conn:
                now = int(time.time())
                changed = sql_update(clients_table).where(where).values(registration=registration)
                if conn.execute(changed).rowcount:
                    return
                conn.execute(
                    clients_table.insert().values(
                        client_id=client.client_id,
                        registration=registration,
                        created_at=now,
                        used_at=now,  # the host's own client never expires unused
                    )
                )
        except IntegrityError:
            pass  # another replica registered it at the same moment, with the same URL

    def client(self, client_id: str) -> OAuthClientInformationFull | None:
        self.ensure()
        with self._engine.connect() as conn:
            raw = conn.execute(
                select(clients_table.c.registration).where(clients_table.c.client_id == client_id)
            ).scalar_one_or_none()
        if raw is None or len(raw) > MAX_REGISTRATION_CHARS:
            return None
        return OAuthClientInformationFull.model_validate_json(raw)

    # --- pending authorization requests ----------------------------------------------------

    def save_request(self, request_id: str, pending: PendingAuthorization, ttl: int) -> None:
        self.ensure()
        now = int(time.time())
        with self._engine.begin() as conn:
            conn.execute(delete(requests_table).where(requests_table.c.expires_at < now))
            conn.execute(
                requests_table.insert().values(
                    id_hash=digest(request_id),
                    request=pending.model_dump_json(),
                    expires_at=now + ttl,
                )
            )

    def request(self, request_id: str) -> PendingAuthorization | None:
        """The pending request, if it exists and has not expired; it stays pending."""
        self.ensure()
        with self._engine.connect() as conn:
            raw = conn.execute(
                select(requests_table.c.request).where(
                    requests_table.c.id_hash == digest(request_id),
                    requests_table.c.expires_at >= int(time.time()),
                )
            ).scalar_one_or_none()
        return None if raw is None else PendingAuthorization.model_validate_json(raw)

    def take_request(self, request_id: str) -> PendingAuthorization | None:
        """Remove and return the pending request: a decision is taken on it once only."""
        self.ensure()
        with self._engine.begin() as conn:
            where = requests_table.c.id_hash == digest(request_id)
            raw = conn.execute(
                select(requests_table.c.request).where(
                    where, requests_table.c.expires_at >= int(time.time())
                )
            ).scalar_one_or_none()
            if raw is None or conn.execute(delete(requests_table).where(where)).rowcount != 1:
                return None
        return PendingAuthorization.model_validate_json(raw)

    # --- authorization codes ---------------------------------------------------------------

    def save_code(self, code: str, grant: CodeGrant, ttl: int) -> None:
        self._save(codes_table, code, ttl, grant=grant.model_dump_json())

    def code(self, code: str) -> Redeemable | None:
        return self._find(codes_table, code, CodeGrant)

    def use_code(self, code: str) -> bool:
        """Mark the code used; False if it already was (or expired): the caller lost a race."""
        return self._use(codes_table, code)

    # --- refresh tokens --------------------------------------------------------------------

    def save_refresh_token(self, token: str, grant: Grant, ttl: int) -> None:
        self._save(
            refresh_tokens_table, token, ttl, family=grant.family, grant=grant.model_dump_json()
        )

    def refresh_token(self, token: str) -> Redeemable | None:
        return self._find(refresh_tokens_table, token, Grant)

    def use_refresh_token(self, token: str) -> bool:
        """Mark the token used (rotated); False if it was used, revoked or expired already."""
        return self._use(refresh_tokens_table, token)

    def revoke_family(self, family: str) -> int:
        """Revoke every refresh token of one sign-in; returns how many were still live."""
        self.ensure()
        table = refresh_tokens_table
        with self._engine.begin() as conn:
            return conn.execute(
                sql_update(table)
                .where(table.c.family == family, table.c.revoked_at.is_(None))
                .values(revoked_at=int(time.time()))
            ).rowcount

    def _save(self, table: Table, secret: str, ttl: int, **values: str) -> None:
        """Store a code or refresh token by its digest; first forget those expired longer ago
        than `REPLAY_MEMORY_SECONDS`."""
        self.ensure()
        now = int(time.time())
        with self._engine.begin() as conn:
            conn.execute(delete(table).where(table.c.expires_at < now - REPLAY_MEMORY_SECONDS))
            row = {_key(table).name: digest(secret), "expires_at": now + ttl, **values}
            conn.execute(table.insert().values(row))

    def _find(self, table: Table, secret: str, grant: type[Grant]) -> Redeemable | None:
        """The stored code or refresh token, used, revoked or expired: the caller decides."""
        self.ensure()
        with self._engine.connect() as conn:
            row = conn.execute(select(table).where(_key(table) == digest(secret))).first()
        if row is None:
            return None
        return Redeemable(
            grant=grant.model_validate_json(row.grant),
            expires_at=row.expires_at,
            used=row.used_at is not None,
            revoked="revoked_at" in table.c and row.revoked_at is not None,
        )

    def _use(self, table: Table, secret: str) -> bool:
        self.ensure()
        now = int(time.time())
        conditions = [
            _key(table) == digest(secret),
            table.c.used_at.is_(None),
            table.c.expires_at >= now,
        ]
        if "revoked_at" in table.c:
            conditions.append(table.c.revoked_at.is_(None))
        with self._engine.begin() as conn:
            return (
                conn.execute(sql_update(table).where(*conditions).values(used_at=now)).rowcount == 1
            )


def _key(table: Table) -> Column[str]:
    """The column a secret table is keyed by: the digest of its code, token or request id."""
    (key,) = table.primary_key.columns
    return key
