"""The audit trail's trace id: the OpenTelemetry trace of the call, when it was traced.

Revision 0004, after 0003. A nullable column, so the records written before it (and every
record of a host that does not trace) simply have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plughost_audit") as batch:
        batch.add_column(sa.Column("trace_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plughost_audit") as batch:
        batch.drop_column("trace_id")
