"""The host's keys table, holding the key that signs pagination cursors (plughost 0.1, issue 14).

Revision 0002. The key itself is made by the first replica that needs it
(`plughost.core.cursor_key`), never by a migration: a database restored elsewhere keeps its key,
and downgrading drops it, which only makes the cursors agents hold start over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plughost_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plughost_keys")
