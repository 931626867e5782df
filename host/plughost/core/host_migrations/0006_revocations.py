"""Revoked sign-ins and sessions, and what the dev issuer keeps to bound registrations.

Revision 0006, after 0005. `plughost_revocations` is `plughost.core.revocations`' table (every
replica reads it to refuse revoked tokens and sessions). Two nullable columns on the dev
issuer's clients: the address a client registered from (registrations are limited per
address) and when it was first used (registrations never used expire).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CLIENTS = "plughost_oauth_clients"


def upgrade() -> None:
    op.create_table(
        "plughost_revocations",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("revoked_at", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        if_not_exists=True,
    )
    for column in ("revoked_at", "expires_at"):
        op.create_index(
            f"ix_plughost_revocations_{column}",
            "plughost_revocations",
            [column],
            if_not_exists=True,
        )
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(CLIENTS)}
    with op.batch_alter_table(CLIENTS) as batch:
        if "registered_from" not in existing:
            batch.add_column(sa.Column("registered_from", sa.String(64), nullable=True))
        if "used_at" not in existing:
            batch.add_column(sa.Column("used_at", sa.Integer(), nullable=True))
    op.create_index(
        f"ix_{CLIENTS}_registered_from", CLIENTS, ["registered_from"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index(f"ix_{CLIENTS}_registered_from", CLIENTS)
    with op.batch_alter_table(CLIENTS) as batch:
        batch.drop_column("used_at")
        batch.drop_column("registered_from")
    op.drop_table("plughost_revocations")
