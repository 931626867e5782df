"""Contact tools: search, details, create, update, archive and delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sqlalchemy import Connection, Row, or_
from sqlalchemy.exc import IntegrityError

from plughost import Conflict, Cursor, ToolContext
from plughost_crm.activities import to_activity
from plughost_crm.companies import to_company
from plughost_crm.core import CrmSettings, plugin
from plughost_crm.deals import to_deal
from plughost_crm.models import (
    Contact,
    ContactDetails,
    ContactPage,
    Deleted,
    Email,
    Id,
    Name,
    Phone,
    Query,
    Version,
)
from plughost_crm.schema import activities, companies, contacts, deals
from plughost_crm.store import (
    delete_for_good,
    fetch,
    new_id,
    now,
    paginate,
    set_archived,
    update_values,
    update_versioned,
)

LABEL = "contact"
Clearable = Literal["email", "phone", "title", "company_id"]


def to_contact(row: Row) -> Contact:
    return Contact.model_validate(row, from_attributes=True)


def _check_references(
    ctx: ToolContext, conn: Connection, email: str | None, company_id: str | None, own_id: str
) -> None:
    """Refuse an email another contact of the tenant has, and a company the tenant lacks."""
    if email is not None:
        holder = conn.execute(
            ctx.storage.select(contacts, contacts.c.id).where(
                contacts.c.email == email, contacts.c.id != own_id
            )
        ).scalar_one_or_none()
        if holder is not None:
            raise Conflict(
                f"contact {holder} already has the email {email}; change that contact, or use "
                "another address",
                code="duplicate_email",
                existing_contact_id=holder,
            )
    if company_id is not None:
        fetch(ctx, conn, companies, "company", company_id)


def _save(
    ctx: ToolContext,
    contact_id: str,
    email: str | None,
    company_id: str | None,
    write: Callable[[Connection], Row],
) -> Contact:
    """Check references, then ``write`` and return the saved contact, all in one transaction.

    A concurrent call can take the email or delete the company between the check and the
    write; the database's constraints then refuse the write, and checking again (now that the
    other call has committed) turns that refusal into the same clear error.
    """
    try:
        with ctx.storage.transaction() as conn:
            _check_references(ctx, conn, email, company_id, contact_id)
            return to_contact(write(conn))
    except IntegrityError:
        with ctx.storage.transaction() as conn:
            _check_references(ctx, conn, email, company_id, contact_id)
        raise


@plugin.tool(scopes=["crm:read"], title="Search contacts", read_only=True)
def search_contacts(
    ctx: ToolContext[CrmSettings],
    query: Query | None = None,
    company_id: Id | None = None,
    include_archived: bool = False,
    cursor: Cursor | None = None,
) -> ContactPage:
    """Find contacts by name, email or company name, sorted by name, a page at a time.

    Args:
        query: Text to look for in the name, the email or the company's name, case-insensitive.
        company_id: Only contacts of this company.
        include_archived: Also return archived contacts.
        cursor: The `next_cursor` of the previous page.
    """
    stmt = ctx.storage.select(contacts)
    if query:
        matching_companies = ctx.storage.select(companies, companies.c.id).where(
            companies.c.name.icontains(query, autoescape=True)
        )
        stmt = stmt.where(
            or_(
                contacts.c.name.icontains(query, autoescape=True),
                contacts.c.email.icontains(query, autoescape=True),
                contacts.c.company_id.in_(matching_companies),
            )
        )
    if company_id is not None:
        stmt = stmt.where(contacts.c.company_id == company_id)
    if not include_archived:
        stmt = stmt.where(contacts.c.archived_at.is_(None))
    with ctx.storage.transaction() as conn:
        rows, next_cursor = paginate(
            ctx,
            conn,
            stmt,
            sort=contacts.c.name,
            cursor=cursor,
            size=ctx.settings.page_size,
        )
    return ContactPage(contacts=[to_contact(r) for r in rows], next_cursor=next_cursor)


@plugin.tool(scopes=["crm:read"], title="Get a contact", read_only=True)
def get_contact(ctx: ToolContext[CrmSettings], id: Id) -> ContactDetails:
    """Get one contact with its company, its open deals and its latest activities.

    Args:
        id: The contact's id.
    """
    closed = ctx.settings.closed_stages
    with ctx.storage.transaction() as conn:
        contact = to_contact(fetch(ctx, conn, contacts, LABEL, id))
        company = None
        if contact.company_id is not None:
            company = to_company(fetch(ctx, conn, companies, "company", contact.company_id))
        open_deals = conn.execute(
            ctx.storage.select(deals)
            .where(deals.c.contact_id == id, deals.c.stage.not_in(closed))
            .order_by(deals.c.created_at, deals.c.id)
        ).all()
        latest = conn.execute(
            ctx.storage.select(activities)
            .where(activities.c.contact_id == id)
            .order_by(activities.c.occurred_at.desc(), activities.c.id.desc())
            .limit(ctx.settings.latest_activities)
        ).all()
    return ContactDetails(
        contact=contact,
        company=company,
        open_deals=[to_deal(r) for r in open_deals],
        latest_activities=[to_activity(r) for r in latest],
    )


@plugin.tool(scopes=["crm:write"], title="Create a contact", idempotent=False)
def create_contact(
    ctx: ToolContext,
    name: Name,
    email: Email | None = None,
    phone: Phone | None = None,
    title: Name | None = None,
    company_id: Id | None = None,
) -> Contact:
    """Add a person to the caller's organisation's CRM.

    Emails are stored in lower case and unique within the organisation: a taken address is
    refused with an error naming the contact that has it.

    Args:
        name: Full name (1 to 200 characters).
        email: Email address.
        phone: Phone number, as the person gives it.
        title: Job title.
        company_id: The company the person works for.
    """
    contact_id, created = new_id(), now()

    def write(conn: Connection) -> Row:
        conn.execute(
            ctx.storage.insert(contacts).values(
                id=contact_id,
                name=name,
                email=email,
                phone=phone,
                title=title,
                company_id=company_id,
                version=1,
                created_at=created,
                updated_at=created,
            )
        )
        return fetch(ctx, conn, contacts, LABEL, contact_id)

    return _save(ctx, contact_id, email, company_id, write)


@plugin.tool(scopes=["crm:write"], title="Update a contact", idempotent=False)
def update_contact(
    ctx: ToolContext,
    id: Id,
    version: Version,
    name: Name | None = None,
    email: Email | None = None,
    phone: Phone | None = None,
    title: Name | None = None,
    company_id: Id | None = None,
    clear: list[Clearable] | None = None,
) -> Contact:
    """Change a contact, if nobody changed it since `version`.

    Omitted fields stay as they are. A stale `version` is refused with a conflict error that
    carries the current version: read the contact again and reapply the change.

    Args:
        id: The contact's id.
        version: The version you last read.
        name: New full name.
        email: New email address.
        phone: New phone number.
        title: New job title.
        company_id: Move the contact to this company.
        clear: Fields to empty, e.g. ["phone", "company_id"].
    """
    given = {"name": name, "email": email, "phone": phone, "title": title, "company_id": company_id}
    changes = update_values(
        given, clear, nothing="nothing to change: give a field to set, or clear"
    )

    def write(conn: Connection) -> Row:
        return update_versioned(ctx, conn, contacts, LABEL, id, version, changes)

    return _save(ctx, id, email, company_id, write)


@plugin.tool(scopes=["crm:write"], title="Archive or restore a contact", idempotent=False)
def archive_contact(ctx: ToolContext, id: Id, version: Version, archived: bool = True) -> Contact:
    """Archive a contact (hidden from search, history kept), or restore it.

    Args:
        id: The contact's id.
        version: The version you last read.
        archived: False restores an archived contact.
    """
    return to_contact(set_archived(ctx, contacts, LABEL, id, version, archived))


@plugin.tool(
    scopes=["crm:delete"], title="Delete a contact for good", destructive=True, idempotent=False
)
def delete_contact(ctx: ToolContext, id: Id) -> Deleted:
    """Delete a contact and its activities for good; its deals stay, no longer linked to it.

    Archive instead to keep the history. Everything happens in one transaction.

    Args:
        id: The contact's id.
    """
    return delete_for_good(
        ctx, contacts, LABEL, id, reference="contact_id", removed=(activities,), detached=(deals,)
    )
