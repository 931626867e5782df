"""The dev issuer's tables: client registrations, pending sign-ins, codes and refresh tokens.

Revision 0003, after 0002. `plughost.devissuer.store` also makes these tables itself when it
first needs them (with ``ensure_schema``, possibly before this runs), so each is created only
where it is missing, as the store declares it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EXPIRING = ("plughost_oauth_codes", "plughost_oauth_refresh_tokens", "plughost_oauth_requests")


def upgrade() -> None:
    op.create_table(
        "plughost_oauth_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("registration", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        if_not_exists=True,
    )
    _secret_table(
        "plughost_oauth_codes",
        "code_hash",
        sa.Column("grant", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.Integer()),
    )
    _secret_table(
        "plughost_oauth_refresh_tokens",
        "token_hash",
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("grant", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.Integer()),
        sa.Column("revoked_at", sa.Integer()),
    )
    _secret_table(
        "plughost_oauth_requests",
        "id_hash",
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
    )
    for table in EXPIRING:
        op.create_index(f"ix_{table}_expires_at", table, ["expires_at"], if_not_exists=True)
    op.create_index(
        "ix_plughost_oauth_refresh_tokens_family",
        "plughost_oauth_refresh_tokens",
        ["family"],
        if_not_exists=True,
    )


def downgrade() -> None:
    for table in (*EXPIRING, "plughost_oauth_clients"):
        op.drop_table(table)


def _secret_table(name: str, key: str, *columns: sa.Column[Any]) -> None:
    """A table of bearer secrets, keyed by each one's SHA-256 in hex, made where it is missing.

    Local to this revision, as a migration must be: the store's own helper may change later.
    """
    op.create_table(
        name, sa.Column(key, sa.String(64), primary_key=True), *columns, if_not_exists=True
    )
