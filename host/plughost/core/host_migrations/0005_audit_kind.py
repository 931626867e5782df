"""The audit trail's kind: what a request used, a tool, a prompt, a resource or a completion.

Revision 0005, after 0004. A nullable column: the records written before it were all tool
calls (or refusals before any tool was named), and say nothing.
"""

from __future__ import annotations

import sqlalchemy as sa

from plughost.core.migration_steps import nullable_column_migration

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

upgrade, downgrade = nullable_column_migration("plughost_audit", "kind", sa.String(16))
