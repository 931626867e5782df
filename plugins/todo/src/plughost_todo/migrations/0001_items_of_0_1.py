"""Items in one table under one id counter for every tenant: plughost-todo 0.1, the baseline.

Revision 0001, the first. A database 0.1 made (before todo had migrations) already has this
table and is stamped here without running it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "todo_items",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_todo_items_tenant_id", "todo_items", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("todo_items")
