"""A database as plughost-crm 0.1 left it: its tables as 0.1 declared them, and rows in each.

0.1 had no migrations: the host created these tables from the declarations below (a copy of
0.1's ``schema.py``), which is what `create` does. Amounts are in hundredths for every currency,
as 0.1 stored them, including amounts 0.2 would refuse (JPY 12.34, currency ABC).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Engine,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from plughost import UTCDateTime

metadata = MetaData()
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
T1 = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


def _tenant() -> list[Column]:
    return [
        Column("tenant_id", String(255), nullable=False, index=True),
        Column("id", String(32), nullable=False),
    ]


def _versioning() -> list[Column]:
    return [
        Column("version", Integer, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    ]


def _ref(column: str, table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], name=f"fk_{table}_{column}"
    )


companies = Table(
    "crm_companies",
    metadata,
    *_tenant(),
    Column("name", String(200), nullable=False),
    Column("domain", String(253)),
    *_versioning(),
    Column("archived_at", UTCDateTime()),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_companies"),
    Index("ix_crm_companies_name", "tenant_id", "name", "id"),
)
contacts = Table(
    "crm_contacts",
    metadata,
    *_tenant(),
    Column("name", String(200), nullable=False),
    Column("email", String(254)),
    Column("phone", String(50)),
    Column("title", String(200)),
    Column("company_id", String(32)),
    *_versioning(),
    Column("archived_at", UTCDateTime()),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_crm_contacts"),
    UniqueConstraint("tenant_id", "email", name="uq_crm_contacts_email"),
    _ref("company_id", "crm_companies"),
    Index("ix_crm_contacts_name", "tenant_id", "name", "id"),
    Index("ix_crm_contacts_company", "tenant_id", "company_id"),
)
deals = Table(
    "crm_deals",
    metadata,
    *_tenant(),
    Column("title", String(200), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("stage", String(40), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("contact_id", String(32)),
    Column("company_id", String(32)),
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
activities = Table(
    "crm_activities",
    metadata,
    *_tenant(),
    Column("kind", String(20), nullable=False),
    Column("summary", String(200), nullable=False),
    Column("body", Text),
    Column("contact_id", String(32)),
    Column("deal_id", String(32)),
    Column("author", String(255), nullable=False),
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

ACME, GLOBEX = "c0" * 16, "c1" * 16
ANN, BOB, EVE = "a1" * 16, "b2" * 16, "e5" * 16
STAMPS = {"created_at": T0, "updated_at": T1}
COMPANIES = [
    {"tenant_id": "acme", "id": ACME, "name": "Acme", "domain": "acme.example", "version": 3},
    {"tenant_id": "globex", "id": GLOBEX, "name": "Globex", "domain": None, "version": 1},
]
CONTACTS = [
    {
        "tenant_id": "acme",
        "id": ANN,
        "name": "Ann",
        "email": "ann@acme.example",
        "phone": "+44 20 7946 0000",
        "title": "CTO",
        "company_id": ACME,
        "version": 2,
    },
    {
        "tenant_id": "acme",
        "id": BOB,
        "name": "Bob",
        "email": None,
        "phone": None,
        "title": None,
        "company_id": None,
        "version": 1,
        "archived_at": T1,
    },
    {
        "tenant_id": "globex",
        "id": EVE,
        "name": "Eve",
        "email": "ann@acme.example",
        "phone": None,
        "title": None,
        "company_id": GLOBEX,
        "version": 1,
    },
]
#: (id, tenant, currency, hundredths as 0.1 stored them, the amount 0.2 shows)
DEALS = [
    ("d0" * 16, "acme", "EUR", 123450, "1234.50"),
    ("d1" * 16, "acme", "JPY", 100000, "1000"),
    ("d2" * 16, "acme", "JPY", 1234, "12.34"),
    ("d3" * 16, "acme", "KWD", 150, "1.500"),
    ("d4" * 16, "globex", "BHD", 25, "0.250"),
    ("d5" * 16, "globex", "ABC", 999, "9.99"),
]
ACTIVITIES = [
    {
        "tenant_id": "acme",
        "id": "f0" * 16,
        "kind": "call",
        "summary": "intro",
        "body": "hi",
        "contact_id": ANN,
        "deal_id": None,
    },
    {
        "tenant_id": "acme",
        "id": "f1" * 16,
        "kind": "note",
        "summary": "priced",
        "body": None,
        "contact_id": None,
        "deal_id": "d1" * 16,
    },
]


def create(engine: Engine) -> None:
    """Make the tables and rows 0.1 would have, in an empty database."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(companies.insert(), [{**row, **STAMPS} for row in COMPANIES])
        conn.execute(
            contacts.insert(), [{"archived_at": None, **row, **STAMPS} for row in CONTACTS]
        )
        conn.execute(
            deals.insert(),
            [
                {
                    "tenant_id": tenant,
                    "id": deal_id,
                    "title": f"{currency} deal",
                    "amount_minor": minor,
                    "currency": currency,
                    "stage": "lead",
                    "owner": "rita",
                    "contact_id": ANN if tenant == "acme" else EVE,
                    "company_id": None,
                    "version": 1,
                    "closed_at": None,
                    **STAMPS,
                }
                for deal_id, tenant, currency, minor, _shown in DEALS
            ],
        )
        conn.execute(
            activities.insert(),
            [{**row, "author": "rita", "occurred_at": T0, "created_at": T0} for row in ACTIVITIES],
        )
