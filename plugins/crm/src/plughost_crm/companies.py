"""Company tools: search, create, update, archive and delete."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Row

from plughost import Cursor, ToolContext
from plughost_crm.core import CrmSettings, plugin
from plughost_crm.models import (
    Company,
    CompanyPage,
    Deleted,
    Domain,
    Id,
    Name,
    Query,
    Version,
)
from plughost_crm.schema import companies, contacts, deals
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

LABEL = "company"


def to_company(row: Row) -> Company:
    return Company.model_validate(row, from_attributes=True)


@plugin.tool(scopes=["crm:read"], title="Search companies", read_only=True)
def search_companies(
    ctx: ToolContext[CrmSettings],
    query: Query | None = None,
    include_archived: bool = False,
    cursor: Cursor | None = None,
) -> CompanyPage:
    """Find companies whose name or domain contains `query`, sorted by name, a page at a time.

    Args:
        query: Text to look for, case-insensitive; all companies when omitted.
        include_archived: Also return archived companies.
        cursor: The `next_cursor` of the previous page.
    """
    stmt = ctx.storage.select(companies)
    if query:
        stmt = stmt.where(
            companies.c.name.icontains(query, autoescape=True)
            | companies.c.domain.icontains(query, autoescape=True)
        )
    if not include_archived:
        stmt = stmt.where(companies.c.archived_at.is_(None))
    with ctx.storage.transaction() as conn:
        rows, next_cursor = paginate(
            ctx,
            conn,
            stmt,
            sort=companies.c.name,
            cursor=cursor,
            size=ctx.settings.page_size,
        )
    return CompanyPage(companies=[to_company(r) for r in rows], next_cursor=next_cursor)


@plugin.tool(scopes=["crm:write"], title="Create a company", idempotent=False)
def create_company(ctx: ToolContext, name: Name, domain: Domain | None = None) -> Company:
    """Add a company to the caller's organisation's CRM.

    Args:
        name: The company's name (1 to 200 characters).
        domain: Its web domain, e.g. example.com.
    """
    company_id, created = new_id(), now()
    with ctx.storage.transaction() as conn:
        conn.execute(
            ctx.storage.insert(companies).values(
                id=company_id,
                name=name,
                domain=domain,
                version=1,
                created_at=created,
                updated_at=created,
            )
        )
        return to_company(fetch(ctx, conn, companies, LABEL, company_id))


@plugin.tool(scopes=["crm:write"], title="Update a company", idempotent=False)
def update_company(
    ctx: ToolContext,
    id: Id,
    version: Version,
    name: Name | None = None,
    domain: Domain | None = None,
    clear: list[Literal["domain"]] | None = None,
) -> Company:
    """Change a company's name or domain, if nobody changed it since `version`.

    Omitted fields stay as they are. A stale `version` is refused with a conflict error that
    carries the current version.

    Args:
        id: The company's id.
        version: The version you last read.
        name: New name.
        domain: New domain.
        clear: Fields to empty, e.g. ["domain"].
    """
    changes = update_values(
        {"name": name, "domain": domain},
        clear,
        nothing="nothing to change: give name, domain or clear",
    )
    with ctx.storage.transaction() as conn:
        return to_company(update_versioned(ctx, conn, companies, LABEL, id, version, changes))


@plugin.tool(scopes=["crm:write"], title="Archive or restore a company", idempotent=False)
def archive_company(ctx: ToolContext, id: Id, version: Version, archived: bool = True) -> Company:
    """Archive a company (hidden from search, kept with its contacts), or restore it.

    Args:
        id: The company's id.
        version: The version you last read.
        archived: False restores an archived company.
    """
    return to_company(set_archived(ctx, companies, LABEL, id, version, archived))


@plugin.tool(
    scopes=["crm:delete"], title="Delete a company for good", destructive=True, idempotent=False
)
def delete_company(ctx: ToolContext, id: Id) -> Deleted:
    """Delete a company for good. Its contacts and deals stay, no longer linked to it.

    Archive instead to keep the company's history. Everything happens in one transaction.

    Args:
        id: The company's id.
    """
    return delete_for_good(
        ctx, companies, LABEL, id, reference="company_id", detached=(contacts, deals)
    )
