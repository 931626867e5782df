"""Deal tools: list, pipeline summary, create and move between stages."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, Row, func
from sqlalchemy.exc import IntegrityError

from plughost import Cursor, InvalidInput, ToolContext
from plughost_crm.core import CrmSettings, plugin
from plughost_crm.models import (
    Amount,
    Currency,
    Deal,
    DealPage,
    Id,
    Name,
    Owner,
    PipelineSummary,
    Stage,
    StageSummary,
    Version,
)
from plughost_crm.money import from_minor, to_minor
from plughost_crm.schema import companies, contacts, deals
from plughost_crm.store import fetch, new_id, now, paginate, update_versioned

LABEL = "deal"


def to_deal(row: Row) -> Deal:
    amount = from_minor(row.amount_minor, row.amount_digits)
    return Deal.model_validate({**row._mapping, "amount": amount}, from_attributes=True)


def _known_stage(settings: CrmSettings, stage: str) -> str:
    if stage not in settings.stages:
        raise InvalidInput(
            f"unknown stage {stage!r}; the pipeline's stages are: {', '.join(settings.stages)}",
            stages=settings.stages,
        )
    return stage


def _check_parties(
    ctx: ToolContext, conn: Connection, contact_id: str | None, company_id: str | None
) -> None:
    if contact_id is not None:
        fetch(ctx, conn, contacts, "contact", contact_id)
    if company_id is not None:
        fetch(ctx, conn, companies, "company", company_id)


@plugin.tool(scopes=["crm:read"], title="List deals", read_only=True)
def list_deals(
    ctx: ToolContext[CrmSettings],
    stage: Stage | None = None,
    owner: Owner | None = None,
    cursor: Cursor | None = None,
) -> DealPage:
    """List deals, oldest first, optionally only one stage's or one owner's, a page at a time.

    Args:
        stage: Only deals in this pipeline stage.
        owner: Only deals this owner has.
        cursor: The `next_cursor` of the previous page.
    """
    stmt = ctx.storage.select(deals)
    if stage is not None:
        stmt = stmt.where(deals.c.stage == _known_stage(ctx.settings, stage))
    if owner is not None:
        stmt = stmt.where(deals.c.owner == owner)
    with ctx.storage.transaction() as conn:
        rows, next_cursor = paginate(
            ctx,
            conn,
            stmt,
            sort=deals.c.created_at,
            cursor=cursor,
            size=ctx.settings.page_size,
        )
    return DealPage(deals=[to_deal(r) for r in rows], next_cursor=next_cursor)


@plugin.tool(scopes=["crm:read"], title="Pipeline summary", read_only=True)
def pipeline_summary(ctx: ToolContext[CrmSettings], owner: Owner | None = None) -> PipelineSummary:
    """How many deals each stage holds and their total amount per currency.

    Amounts in different currencies are never added together.

    Args:
        owner: Only this owner's deals.
    """
    stmt = ctx.storage.select(
        deals,
        deals.c.stage,
        deals.c.currency,
        deals.c.amount_digits,
        func.count().label("deal_count"),
        func.sum(deals.c.amount_minor).label("total_minor"),
    ).group_by(deals.c.stage, deals.c.currency, deals.c.amount_digits)
    if owner is not None:
        stmt = stmt.where(deals.c.owner == owner)
    with ctx.storage.transaction() as conn:
        groups = conn.execute(stmt).all()
    settings = ctx.settings
    found = sorted({g.stage for g in groups} - set(settings.stages))
    summary = {
        stage: StageSummary(stage=stage, open=settings.is_open(stage), count=0, totals={})
        for stage in [*settings.stages, *found]
    }
    for group in groups:
        entry = summary[group.stage]
        entry.count += group.deal_count
        total = from_minor(int(group.total_minor), group.amount_digits)
        entry.totals[group.currency] = entry.totals.get(group.currency, Decimal(0)) + total
    return PipelineSummary(stages=list(summary.values()))


@plugin.tool(scopes=["crm:write"], title="Create a deal", idempotent=False)
def create_deal(
    ctx: ToolContext[CrmSettings],
    title: Name,
    amount: Amount,
    currency: Currency,
    stage: Stage | None = None,
    owner: Owner | None = None,
    contact_id: Id | None = None,
    company_id: Id | None = None,
) -> Deal:
    """Open a deal in the caller's organisation's pipeline.

    Args:
        title: What is being sold (1 to 200 characters).
        amount: The deal's value as a decimal string ("1234.50") or an integer; never a float.
            At most as many decimal places as the currency has (JPY none, KWD 3).
        currency: ISO 4217 code of a currency in use, in capitals, e.g. EUR.
        stage: Pipeline stage; the pipeline's first stage when omitted.
        owner: Who owns the deal; the caller when omitted.
        contact_id: The contact the deal is with.
        company_id: The company the deal is with.
    """
    settings = ctx.settings
    deal_id, created = new_id(), now()
    amount_minor, amount_digits = to_minor(amount, currency)
    stage = _known_stage(settings, stage) if stage is not None else settings.stages[0]
    values = {
        "id": deal_id,
        "title": title,
        "amount_minor": amount_minor,
        "amount_digits": amount_digits,
        "currency": currency,
        "stage": stage,
        "owner": owner or ctx.caller.subject,
        "contact_id": contact_id,
        "company_id": company_id,
        "version": 1,
        "created_at": created,
        "updated_at": created,
        "closed_at": None if settings.is_open(stage) else created,
    }
    try:
        with ctx.storage.transaction() as conn:
            _check_parties(ctx, conn, contact_id, company_id)
            conn.execute(ctx.storage.insert(deals).values(**values))
            return to_deal(fetch(ctx, conn, deals, LABEL, deal_id))
    except IntegrityError:
        # A contact or company was deleted between the check and the insert: say which.
        with ctx.storage.transaction() as conn:
            _check_parties(ctx, conn, contact_id, company_id)
        raise


@plugin.tool(scopes=["crm:write"], title="Move a deal to another stage", idempotent=False)
def move_deal(ctx: ToolContext[CrmSettings], id: Id, version: Version, stage: Stage) -> Deal:
    """Move a deal to another pipeline stage, if nobody changed it since `version`.

    Moving into a closed stage (won, lost) records when the deal closed; moving back out of
    one clears it.

    Args:
        id: The deal's id.
        version: The version you last read.
        stage: The stage to move it to.
    """
    settings = ctx.settings
    stage = _known_stage(settings, stage)
    closed_at = None if settings.is_open(stage) else now()
    with ctx.storage.transaction() as conn:
        row = update_versioned(
            ctx, conn, deals, LABEL, id, version, {"stage": stage, "closed_at": closed_at}
        )
        return to_deal(row)
