"""Ids numbered per tenant: items move to a table keyed by (tenant_id, id), keeping their ids.

Revision 0002, after 0001: plughost-todo 0.2. A key cannot be changed in place on every
database, so the items move to ``todo_tenant_items`` and ``todo_items`` is dropped, in the one
transaction the host runs each upgrade in. Every 0.1 id was unique, so each item keeps its id
and the ids agents hold stay valid. Builds of 0.2 made before it had migrations already created
the new tables; they are kept as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("tenant_id", "id", "title", "notes", "completed", "created_at", "updated_at")


def upgrade() -> None:
    op.create_table(
        "todo_tenant_items",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_todo_tenant_items"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_todo_tenant_items_tenant_id", "todo_tenant_items", ["tenant_id"], if_not_exists=True
    )
    op.create_table(
        "todo_tenant_counters",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_todo_tenant_counters"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_todo_tenant_counters_tenant_id",
        "todo_tenant_counters",
        ["tenant_id"],
        if_not_exists=True,
    )
    if sa.inspect(op.get_bind()).has_table("todo_items"):
        _copy("todo_items", "todo_tenant_items")
        op.drop_table("todo_items")


def downgrade() -> None:
    """Back to one id counter for all tenants: possible while no two tenants share an id."""
    bind = op.get_bind()
    items = sa.table("todo_tenant_items", *(sa.column(name) for name in COLUMNS))
    shared = bind.execute(
        sa.select(items.c.id).group_by(items.c.id).having(sa.func.count() > 1).limit(5)
    ).scalars()
    clashes = list(shared)
    if clashes:
        raise RuntimeError(
            f"cannot go back to plughost-todo 0.1: ids {clashes} belong to items of several "
            "tenants, and 0.1 keeps one id per item across all tenants"
        )
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
    _copy("todo_tenant_items", "todo_items")
    if bind.dialect.name == "postgresql":
        # Rows were copied with their ids: the serial must continue after the highest.
        bind.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('todo_items', 'id'), "
                "COALESCE((SELECT MAX(id) FROM todo_items), 0) + 1, false)"
            )
        )
    op.drop_table("todo_tenant_counters")
    op.drop_table("todo_tenant_items")


def _copy(source: str, target: str) -> None:
    old = sa.table(source, *(sa.column(name) for name in COLUMNS))
    new = sa.table(target, *(sa.column(name) for name in COLUMNS))
    op.get_bind().execute(new.insert().from_select(COLUMNS, sa.select(*old.c)))
