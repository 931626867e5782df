"""The audit trail's table, as plughost 0.1 created it: the host's baseline.

Revision 0001, the first. A database made before migrations already has this table and is
stamped here without running it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INDEXED = ("time", "subject", "tool", "outcome")


def upgrade() -> None:
    op.create_table(
        "plughost_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("subject", sa.String(255)),
        sa.Column("client_id", sa.String(255)),
        sa.Column("tenant", sa.String(255)),
        sa.Column("tool", sa.String(64)),
        sa.Column("plugin", sa.String(64)),
        sa.Column("plugin_version", sa.String(64)),
        sa.Column("required_scopes", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(255)),
        sa.Column("latency_ms", sa.Float()),
        sa.Column("arguments", sa.Text(), nullable=False),
    )
    for column in INDEXED:
        op.create_index(f"ix_plughost_audit_{column}", "plughost_audit", [column])


def downgrade() -> None:
    op.drop_table("plughost_audit")
