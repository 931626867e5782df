"""Companies, contacts, deals and activities as plughost-crm 0.1 made them: the baseline.

Revision 0001, the first. A database 0.1 made (before crm had migrations) already has these
tables and is stamped here without running it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("crm_activities", "crm_deals", "crm_contacts", "crm_companies")


def _tenant() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
    ]


def _versioning() -> list[sa.Column]:
    return [
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _ref(column: str, table: str, name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], name=name
    )


def _indexes(table: str, **named: list[str]) -> None:
    op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
    for name, columns in named.items():
        op.create_index(f"ix_{table}_{name}", table, columns)


def upgrade() -> None:
    op.create_table(
        "crm_companies",
        *_tenant(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("domain", sa.String(253)),
        *_versioning(),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_companies"),
    )
    _indexes("crm_companies", name=["tenant_id", "name", "id"])
    op.create_table(
        "crm_contacts",
        *_tenant(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(50)),
        sa.Column("title", sa.String(200)),
        sa.Column("company_id", sa.String(32)),
        *_versioning(),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_contacts"),
        sa.UniqueConstraint("tenant_id", "email", name="uq_crm_contacts_email"),
        _ref("company_id", "crm_companies", "fk_crm_companies_company_id"),
    )
    _indexes("crm_contacts", name=["tenant_id", "name", "id"], company=["tenant_id", "company_id"])
    op.create_table(
        "crm_deals",
        *_tenant(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("contact_id", sa.String(32)),
        sa.Column("company_id", sa.String(32)),
        *_versioning(),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_deals"),
        _ref("contact_id", "crm_contacts", "fk_crm_contacts_contact_id"),
        _ref("company_id", "crm_companies", "fk_crm_companies_company_id"),
    )
    _indexes(
        "crm_deals",
        created=["tenant_id", "created_at", "id"],
        stage=["tenant_id", "stage"],
        contact=["tenant_id", "contact_id"],
        company=["tenant_id", "company_id"],
    )
    op.create_table(
        "crm_activities",
        *_tenant(),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("body", sa.Text()),
        sa.Column("contact_id", sa.String(32)),
        sa.Column("deal_id", sa.String(32)),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_activities"),
        _ref("contact_id", "crm_contacts", "fk_crm_contacts_contact_id"),
        _ref("deal_id", "crm_deals", "fk_crm_deals_deal_id"),
        sa.CheckConstraint(
            "(contact_id IS NULL) <> (deal_id IS NULL)", name="ck_crm_activities_one_target"
        ),
    )
    _indexes(
        "crm_activities",
        contact=["tenant_id", "contact_id", "occurred_at"],
        deal=["tenant_id", "deal_id", "occurred_at"],
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
