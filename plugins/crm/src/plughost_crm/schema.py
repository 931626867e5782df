"""The crm tables, each partitioned by tenant through `Plugin.table`.

Ids are random (uuid4 hex), so an id reveals nothing about other tenants' rows. Primary keys
are ``(tenant_id, id)`` and references are composite foreign keys on ``(tenant_id, <ref>_id)``:
the database itself refuses a row that points into another tenant, and refuses a reference to a
row a concurrent call just deleted. The schema changes with migrations (``migrations/``,
version table ``crm_alembic_version``): a change here needs a revision there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)

from plughost import UTCDateTime
from plughost_crm.core import plugin

ID_LENGTH = 32
MAX_NAME = 200
MAX_EMAIL = 254
MAX_PHONE = 50
MAX_DOMAIN = 253
MAX_OWNER = 255
MAX_BODY = 10_000
MAX_STAGE = 40


def _ref(column: str, table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], name=f"fk_{table}_{column}"
    )


def _versioning() -> tuple[Column[int], Column[datetime], Column[datetime]]:
    """The columns of `models.Record`, which `store.update_versioned` relies on in every table.

    New objects on each call, as a SQLAlchemy column belongs to exactly one table.
    """
    return (
        Column("version", Integer, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    )


companies = plugin.table(
    "crm_companies",
    Column("id", String(ID_LENGTH), nullable=False),
    Column("name", String(MAX_NAME), nullable=False),
    Column("domain", String(MAX_DOMAIN)),
    *_versioning(),
    Column("archived_at", UTCDateTime()),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_companies"),
    Index("ix_crm_companies_name", "tenant_id", "name", "id"),
)

contacts = plugin.table(
    "crm_contacts",
    Column("id", String(ID_LENGTH), nullable=False),
    Column("name", String(MAX_NAME), nullable=False),
    Column("email", String(MAX_EMAIL)),
    Column("phone", String(MAX_PHONE)),
    Column("title", String(MAX_NAME)),
    Column("company_id", String(ID_LENGTH)),
    *_versioning(),
    Column("archived_at", UTCDateTime()),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_contacts"),
    UniqueConstraint("tenant_id", "email", name="uq_crm_contacts_email"),
    _ref("company_id", "crm_companies"),
    Index("ix_crm_contacts_name", "tenant_id", "name", "id"),
    Index("ix_crm_contacts_company", "tenant_id", "company_id"),
)

deals = plugin.table(
    "crm_deals",
    Column("id", String(ID_LENGTH), nullable=False),
    Column("title", String(MAX_NAME), nullable=False),
    # Minor units of the currency (`money`): exact on every database, including SQLite, which
    # has no decimal type and would store a NUMERIC column as a float. `amount_digits` is how
    # many digits the minor unit had when the amount was stored (rows from 0.1: 2).
    Column("amount_minor", BigInteger, nullable=False),
    Column("amount_digits", SmallInteger, nullable=False, server_default="2"),
    Column("currency", String(3), nullable=False),
    Column("stage", String(MAX_STAGE), nullable=False),
    Column("owner", String(MAX_OWNER), nullable=False),
    Column("contact_id", String(ID_LENGTH)),
    Column("company_id", String(ID_LENGTH)),
    *_versioning(),
    Column("closed_at", UTCDateTime()),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_deals"),
    _ref("contact_id", "crm_contacts"),
    _ref("company_id", "crm_companies"),
    Index("ix_crm_deals_created", "tenant_id", "created_at", "id"),
    Index("ix_crm_deals_stage", "tenant_id", "stage"),
    Index("ix_crm_deals_contact", "tenant_id", "contact_id"),
    Index("ix_crm_deals_company", "tenant_id", "company_id"),
)

activities = plugin.table(
    "crm_activities",
    Column("id", String(ID_LENGTH), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("summary", String(MAX_NAME), nullable=False),
    Column("body", Text),
    Column("contact_id", String(ID_LENGTH)),
    Column("deal_id", String(ID_LENGTH)),
    Column("author", String(MAX_OWNER), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_activities"),
    _ref("contact_id", "crm_contacts"),
    _ref("deal_id", "crm_deals"),
    CheckConstraint(
        "(contact_id IS NULL) <> (deal_id IS NULL)", name="ck_crm_activities_one_target"
    ),
    Index("ix_crm_activities_contact", "tenant_id", "contact_id", "occurred_at"),
    Index("ix_crm_activities_deal", "tenant_id", "deal_id", "occurred_at"),
)
