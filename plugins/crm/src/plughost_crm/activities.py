"""Activity tools: log a note, call, email or meeting on a contact or a deal.

Activities are a record of what happened, so they are never edited and carry no version.
"""

from __future__ import annotations

from pydantic import AwareDatetime
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from plughost import InvalidInput, ToolContext
from plughost_crm.core import plugin
from plughost_crm.models import Activity, ActivityKind, Body, Id, Name
from plughost_crm.schema import activities, contacts, deals
from plughost_crm.store import fetch, new_id, now

LABEL = "activity"


def to_activity(row: Row) -> Activity:
    return Activity.model_validate(row, from_attributes=True)


@plugin.tool(scopes=["crm:write"], title="Log an activity", idempotent=False)
def log_activity(
    ctx: ToolContext,
    kind: ActivityKind,
    summary: Name,
    body: Body | None = None,
    contact_id: Id | None = None,
    deal_id: Id | None = None,
    occurred_at: AwareDatetime | None = None,
) -> Activity:
    """Record a note, call, email or meeting on exactly one contact or deal.

    Args:
        kind: note, call, email or meeting.
        summary: One line saying what happened (1 to 200 characters).
        body: Details, up to 10000 characters.
        contact_id: The contact it concerns (give this or deal_id, not both).
        deal_id: The deal it concerns (give this or contact_id, not both).
        occurred_at: When it happened, with a time zone; now when omitted.
    """
    if contact_id is not None and deal_id is None:
        target, label, target_id = contacts, "contact", contact_id
    elif deal_id is not None and contact_id is None:
        target, label, target_id = deals, "deal", deal_id
    else:
        raise InvalidInput("give exactly one of contact_id and deal_id")
    activity_id, created = new_id(), now()
    values = {
        "id": activity_id,
        "kind": kind,
        "summary": summary,
        "body": body,
        "contact_id": contact_id,
        "deal_id": deal_id,
        "author": ctx.caller.subject,
        "occurred_at": occurred_at or created,
        "created_at": created,
    }
    try:
        with ctx.storage.transaction() as conn:
            fetch(ctx, conn, target, label, target_id)
            conn.execute(ctx.storage.insert(activities).values(**values))
            return to_activity(fetch(ctx, conn, activities, LABEL, activity_id))
    except IntegrityError:
        # The contact or deal was deleted between the check and the insert.
        with ctx.storage.transaction() as conn:
            fetch(ctx, conn, target, label, target_id)
        raise
