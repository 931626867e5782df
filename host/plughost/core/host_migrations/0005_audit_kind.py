"""The audit trail's kind: what a request used, a tool, a prompt, a resource or a completion.

Revision 0005, after 0004. A nullable column: the records written before it were all tool
calls (or refusals before any tool was named), and say nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plughost_audit") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plughost_audit") as batch:
        batch.drop_column("kind")
