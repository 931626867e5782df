"""Steps the host's revision files share, each written once: a nullable column added to a table.

A step's DDL is part of every revision that uses it, and revisions are frozen once released: a
step may gain callers but never change what it emits (a different change is a new step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

Step = Callable[[], None]


def nullable_column_migration(table: str, column: str, type_: TypeEngine[Any]) -> tuple[Step, Step]:
    """A revision's ``upgrade`` and ``downgrade``: add the nullable ``column`` to ``table``, and
    drop it again (batch mode, so that SQLite can drop it too).

    Rows written before the upgrade have no value (NULL) in it. The column is made anew at each
    upgrade, as a `Column` belongs to the one table it is added to.
    """

    def upgrade() -> None:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, type_, nullable=True))

    def downgrade() -> None:
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)

    return upgrade, downgrade
