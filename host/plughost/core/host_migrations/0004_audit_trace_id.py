"""The audit trail's trace id: the OpenTelemetry trace of the call, when it was traced.

Revision 0004, after 0003. A nullable column, so the records written before it (and every
record of a host that does not trace) simply have none.
"""

from __future__ import annotations

import sqlalchemy as sa

from plughost.core.migration_steps import nullable_column_migration

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

upgrade, downgrade = nullable_column_migration("plughost_audit", "trace_id", sa.String(32))
