"""Schema upgrade: a database an older crm release left behind keeps its rows and gains columns.

The "older release" is simulated by hand-written DDL: ``crm_contacts`` without the ``phone`` and
``title`` columns and no deal or activity tables yet, holding rows of two tenants.
"""

from __future__ import annotations

import sqlite3

import pytest
from conftest import Agent
from sqlalchemy import create_engine, inspect

OLD_SCHEMA = """
CREATE TABLE crm_companies (
    tenant_id VARCHAR(255) NOT NULL,
    id VARCHAR(32) NOT NULL,
    name VARCHAR(200) NOT NULL,
    domain VARCHAR(253),
    version INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    archived_at DATETIME,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE crm_contacts (
    tenant_id VARCHAR(255) NOT NULL,
    id VARCHAR(32) NOT NULL,
    name VARCHAR(200) NOT NULL,
    email VARCHAR(254),
    company_id VARCHAR(32),
    version INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    archived_at DATETIME,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email),
    FOREIGN KEY (tenant_id, company_id) REFERENCES crm_companies (tenant_id, id)
);
"""
COMPANY = "c0" * 16
ANN, BOB, EVE = "a1" * 16, "b2" * 16, "e5" * 16
OLD_ROWS = [
    "INSERT INTO crm_companies VALUES ('acme', '{company}', 'Acme', 'acme.example', 3, "
    "'2024-05-01 09:30:00.000000', '2024-06-01 10:00:00.000000', NULL)",
    "INSERT INTO crm_contacts VALUES ('acme', '{ann}', 'Ann', 'ann@acme.example', '{company}', "
    "2, '2024-05-01 09:30:00.000000', '2024-05-02 11:00:00.000000', NULL)",
    "INSERT INTO crm_contacts VALUES ('acme', '{bob}', 'Bob', NULL, NULL, 1, "
    "'2024-05-03 08:00:00.000000', '2024-05-03 08:00:00.000000', '2024-07-01 00:00:00.000000')",
    "INSERT INTO crm_contacts VALUES ('globex', '{eve}', 'Eve', 'ann@acme.example', NULL, 1, "
    "'2024-05-04 08:00:00.000000', '2024-05-04 08:00:00.000000', NULL)",
]


@pytest.fixture
def old_database(tmp_path):
    path = tmp_path / "older-release.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        for statement in OLD_ROWS:
            db.execute(statement.format(company=COMPANY, ann=ANN, bob=BOB, eve=EVE))
    return path


def test_an_older_database_is_upgraded_without_losing_rows(plughost_factory, old_database):
    url = f"sqlite:///{old_database}"
    host = plughost_factory(plugins=["crm"], settings={"database_url": url})
    acme = Agent(host.client(tenant="acme"))

    details = acme.ok("get_contact", id=ANN)
    assert details["contact"] == {
        "id": ANN,
        "name": "Ann",
        "email": "ann@acme.example",
        "phone": None,
        "title": None,
        "company_id": COMPANY,
        "version": 2,
        "created_at": "2024-05-01T09:30:00Z",
        "updated_at": "2024-05-02T11:00:00Z",
        "archived_at": None,
    }
    assert details["company"]["name"] == "Acme" and details["company"]["version"] == 3
    archived = acme.ok("search_contacts", include_archived=True)["contacts"]
    assert [(c["id"], c["archived_at"]) for c in archived] == [
        (ANN, None),
        (BOB, "2024-07-01T00:00:00Z"),
    ]
    eve = Agent(host.client(tenant="globex")).ok("get_contact", id=EVE)["contact"]
    assert eve["email"] == "ann@acme.example"

    updated = acme.ok("update_contact", id=ANN, version=2, title="CTO", phone="+44 20 7946 0000")
    assert (updated["title"], updated["phone"], updated["version"]) == (
        "CTO",
        "+44 20 7946 0000",
        3,
    )
    assert acme.error("create_contact", name="Imposter", email="ann@acme.example")["details"] == {
        "existing_contact_id": ANN
    }
    deal = acme.ok("create_deal", title="New", amount="1", currency="EUR", contact_id=ANN)
    acme.ok("log_activity", kind="note", summary="after the upgrade", deal_id=deal["id"])

    host.restart()
    assert acme.ok("get_contact", id=ANN)["contact"] == updated
    columns = {c["name"] for c in inspect(create_engine(url)).get_columns("crm_contacts")}
    assert {"phone", "title"} <= columns
