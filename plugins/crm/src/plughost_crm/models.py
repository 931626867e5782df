"""What the crm tools accept and return.

Input types carry their limits, so an over-long or malformed argument is refused by the host's
validation before a tool runs and nothing is written. Every free-text argument is a
`BoundedText` (no NUL characters, which PostgreSQL cannot store) and every version a `RowId`
(it fits an INTEGER column): a value the database cannot hold would otherwise fail there, as an
internal error.

Money is `Decimal` end to end: agents send amounts as strings (``"1234.50"``) or integers,
never JSON floats, and get strings back, written with their currency's decimal places
(`plughost_crm.money`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from plughost import BoundedText, RowId
from plughost_crm.money import MAX_DIGITS as MAX_CURRENCY_DIGITS
from plughost_crm.money import check_currency
from plughost_crm.schema import (
    ID_LENGTH,
    MAX_BODY,
    MAX_DOMAIN,
    MAX_EMAIL,
    MAX_NAME,
    MAX_OWNER,
    MAX_PHONE,
    MAX_STAGE,
)

#: 13 digits before the point and up to `money.MAX_DIGITS` after it: fits a BIGINT of minor units.
MAX_DIGITS = 13 + MAX_CURRENCY_DIGITS
AMOUNT_PATTERN = rf"^\d{{1,13}}(\.\d{{1,{MAX_CURRENCY_DIGITS}}})?$"
#: No field a search looks in is longer than an email address, so no longer query can match.
MAX_QUERY = MAX_EMAIL


def _trimmed(max_length: int) -> Any:
    """``BoundedText[max_length]`` without surrounding whitespace, and not blank.

    Stripping comes after the length check and before the blank check, in that order, so a
    value of only spaces is refused rather than stored empty.
    """
    return Annotated[BoundedText[max_length], AfterValidator(str.strip), Field(min_length=1)]


Id = Annotated[
    str,
    StringConstraints(pattern=rf"^[0-9a-f]{{{ID_LENGTH}}}$"),
    Field(description="A record id, as returned by the tool that created it."),
]
Version = Annotated[
    RowId,
    Field(description="The version you last read; a stale one is refused as a conflict."),
]
Name = _trimmed(MAX_NAME)
# Lower-cased so that uniqueness per tenant ignores case, as mail systems do in practice.
Email = Annotated[EmailStr, AfterValidator(str.lower)]
Phone = _trimmed(MAX_PHONE)
Domain = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=MAX_DOMAIN,
        pattern=r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
    ),
]
Owner = _trimmed(MAX_OWNER)
Body = BoundedText[MAX_BODY]
Query = BoundedText[MAX_QUERY]
# Configured stage names are checked by the tools, which list the valid ones in their error.
Stage = BoundedText[MAX_STAGE]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(check_currency),
    Field(description="ISO 4217 code of a currency in use, in capitals, e.g. EUR."),
]
ActivityKind = Literal["note", "call", "email", "meeting"]


def _refuse_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('send the amount as a string such as "1234.50" or as an integer')
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(_refuse_float),
    # lt: at most 13 digits before the point, stated outright: pydantic releases differ in
    # whether max_digits with decimal_places alone refuses a 14th.
    Field(ge=0, lt=10**13, max_digits=MAX_DIGITS, decimal_places=MAX_CURRENCY_DIGITS),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN},
                {"type": "integer", "minimum": 0},
            ],
            "description": "Non-negative, with at most the currency's decimal places (JPY "
            'none, EUR 2, KWD 3): "1234.50" or 1234.',
        }
    ),
]


class Record(BaseModel):
    """Fields every versioned record has. Send `version` back when changing the record."""

    id: str
    version: int = Field(description="Increases with every change; updates must name it.")
    created_at: datetime
    updated_at: datetime


class Company(Record):
    name: str
    domain: str | None
    archived_at: datetime | None


class Contact(Record):
    name: str
    email: str | None
    phone: str | None
    title: str | None
    company_id: str | None
    archived_at: datetime | None


class Deal(Record):
    title: str
    amount: Decimal
    currency: str
    stage: str
    owner: str
    contact_id: str | None
    company_id: str | None
    closed_at: datetime | None


class Activity(BaseModel):
    id: str
    kind: ActivityKind
    summary: str
    body: str | None
    contact_id: str | None
    deal_id: str | None
    author: str = Field(description="The subject of the token that logged it.")
    occurred_at: datetime
    created_at: datetime


class ContactDetails(BaseModel):
    contact: Contact
    company: Company | None
    open_deals: list[Deal]
    latest_activities: list[Activity] = Field(description="Most recent first.")


class ContactPage(BaseModel):
    contacts: list[Contact]
    next_cursor: str | None = Field(None, description="Pass back as `cursor` for the next page.")


class CompanyPage(BaseModel):
    companies: list[Company]
    next_cursor: str | None = Field(None, description="Pass back as `cursor` for the next page.")


class DealPage(BaseModel):
    deals: list[Deal]
    next_cursor: str | None = Field(None, description="Pass back as `cursor` for the next page.")


class StageSummary(BaseModel):
    stage: str
    open: bool
    count: int
    totals: dict[str, Decimal] = Field(description="Total amount per currency.")


class PipelineSummary(BaseModel):
    stages: list[StageSummary] = Field(
        description="Configured stages in pipeline order, then any stage no longer configured."
    )


class Deleted(BaseModel):
    id: str
    deleted: bool = True
    activities_removed: int = Field(description="Activities deleted along with the record.")
    records_detached: int = Field(description="Contacts and deals that no longer point at it.")
