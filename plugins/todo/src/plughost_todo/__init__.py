"""A todo list per organisation: the smallest complete Plughost plugin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    cast,
    func,
)
from sqlalchemy.exc import IntegrityError

from plughost import (
    BoundedText,
    Cursor,
    InvalidInput,
    NotFound,
    Plugin,
    RowId,
    ToolContext,
    UTCDateTime,
)

MAX_TITLE = 200
MAX_NOTES = 2000
# What one read of `todo://open` or one "plan my day" prompt holds at most: enough for a day,
# small enough for an agent's context. The rest are counted, and `todo_list` pages through them.
MAX_SHOWN = 50
# How much of an item's notes the prompt quotes.
NOTES_EXCERPT = 200


class TodoSettings(BaseModel):
    page_size: int = Field(20, ge=1, le=100, description="Items per page when listing.")


plugin = Plugin(
    scopes={
        "todo:read": "Read your organisation's todo items.",
        "todo:write": "Create, change and delete your organisation's todo items.",
    },
    baseline_scopes=["todo:read"],
    settings=TodoSettings,
    migrations="plughost_todo.migrations",
)

# Ids are numbered per tenant (1, 2, 3, ...), so an id tells nobody how many items other
# organisations made: the key is (tenant_id, id). 0.1 kept items in `todo_items` under one
# counter for all tenants; a key cannot be changed in place, so this is a new table and
# migration 0002 moves 0.1's rows here.
items = plugin.table(
    "todo_tenant_items",
    Column("id", Integer, nullable=False, autoincrement=False),
    Column("title", String(MAX_TITLE), nullable=False),
    Column("notes", Text, nullable=False, default=""),
    Column("completed", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_todo_tenant_items"),
)

# The last id each tenant was given: one row per tenant, created by its first item.
counters = plugin.table(
    "todo_tenant_counters",
    Column("last_id", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", name="pk_todo_tenant_counters"),
)


class TodoItem(BaseModel):
    id: int
    title: str
    notes: str
    completed: bool
    created_at: datetime
    updated_at: datetime


class TodoPage(BaseModel):
    items: list[TodoItem]
    next_cursor: str | None = Field(None, description="Pass back as `cursor` for the next page.")


class Deleted(BaseModel):
    id: int
    deleted: bool = True


Title = Annotated[BoundedText[MAX_TITLE], Field(min_length=1, description="What to do.")]
Notes = Annotated[BoundedText[MAX_NOTES], Field(description="Longer details.")]
# The SDK's `RowId` describes itself generically; agents are better served by what the id names.
ItemId = Annotated[RowId, Field(description="The item's id.")]


def _now() -> datetime:
    return datetime.now(UTC)


def _clean_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise InvalidInput("title must not be blank")
    return title


def _row_to_item(row: object) -> TodoItem:
    return TodoItem.model_validate(row, from_attributes=True)


def _fetch(ctx: ToolContext, conn: Connection, item_id: int) -> TodoItem:
    row = conn.execute(ctx.storage.select(items).where(items.c.id == item_id)).first()
    if row is None:
        raise NotFound(f"todo item {item_id} does not exist", id=item_id)
    return _row_to_item(row)


def _next_id(ctx: ToolContext, conn: Connection) -> int:
    """Take the caller's tenant's next item id.

    Incrementing the tenant's counter row locks it until the transaction ends (a row lock on
    PostgreSQL, the write lock on SQLite), so concurrent creates in one tenant take turns for
    that moment and each gets an id of its own, without retrying. An id is never given out
    twice, even after its item is deleted: an agent holding it gets `not_found`, not someone
    else's item. A tenant's first create starts the counter after the tenant's highest id
    (items moved from 0.1 keep theirs); see `create` for two first creates at once.
    """
    bumped = conn.execute(ctx.storage.update(counters).values(last_id=counters.c.last_id + 1))
    if bumped.rowcount:
        return int(conn.execute(ctx.storage.select(counters, counters.c.last_id)).scalar_one())
    highest = conn.execute(ctx.storage.select(items, func.max(items.c.id))).scalar_one()
    first = (highest or 0) + 1
    conn.execute(ctx.storage.insert(counters).values(last_id=first))
    return first


def _insert(ctx: ToolContext, values: dict[str, object]) -> TodoItem:
    now = _now()
    with ctx.storage.transaction() as conn:
        item_id = _next_id(ctx, conn)
        conn.execute(
            ctx.storage.insert(items).values(
                id=item_id, completed=False, created_at=now, updated_at=now, **values
            )
        )
        return _fetch(ctx, conn, item_id)


@plugin.tool(scopes=["todo:write"], title="Create a todo item", idempotent=False)
def create(ctx: ToolContext, title: Title, notes: Notes = "") -> TodoItem:
    """Add an item to the caller's organisation's todo list.

    Args:
        title: What needs doing (1 to 200 characters).
        notes: Optional details (up to 2000 characters).
    """
    values: dict[str, object] = {"title": _clean_title(title), "notes": notes}
    try:
        return _insert(ctx, values)
    except IntegrityError:
        # Only a tenant's first two creates racing to start its counter get here: the loser's
        # counter row clashed with the winner's, which is committed now, so a second try
        # simply takes the next id from it.
        return _insert(ctx, values)


@plugin.tool(scopes=["todo:read"], name="list", title="List todo items", read_only=True)
def list_items(
    ctx: ToolContext[TodoSettings], completed: bool | None = None, cursor: Cursor | None = None
) -> TodoPage:
    """List todo items, oldest first, a page at a time.

    Args:
        completed: Only done items (true) or only open ones (false); all when omitted.
        cursor: The `next_cursor` of the previous page.
    """
    page_size = ctx.settings.page_size
    after = ctx.pages.after(cursor)  # a cursor the host signed for this tool and tenant
    stmt = ctx.storage.select(items).order_by(items.c.id).limit(page_size + 1)
    if completed is not None:
        stmt = stmt.where(items.c.completed == completed)
    if after is not None:
        stmt = stmt.where(items.c.id > after["id"])
    with ctx.storage.transaction() as conn:
        rows = conn.execute(stmt).all()
    page, next_cursor = ctx.pages.page(rows, page_size, lambda row: {"id": row.id})
    return TodoPage(items=[_row_to_item(r) for r in page], next_cursor=next_cursor)


@plugin.tool(scopes=["todo:read"], title="Get a todo item", read_only=True)
def get(ctx: ToolContext, id: ItemId) -> TodoItem:
    """Get one todo item by id.

    Args:
        id: The item's id.
    """
    with ctx.storage.transaction() as conn:
        return _fetch(ctx, conn, id)


@plugin.tool(scopes=["todo:write"], title="Update a todo item", idempotent=True)
def update(
    ctx: ToolContext,
    id: ItemId,
    title: Title | None = None,
    notes: Notes | None = None,
    completed: bool | None = None,
) -> TodoItem:
    """Change an item's title, notes or completion; omitted fields stay as they are.

    Args:
        id: The item's id.
        title: New title.
        notes: New notes.
        completed: Mark done (true) or open again (false).
    """
    changes: dict[str, object] = {}
    if title is not None:
        changes["title"] = _clean_title(title)
    if notes is not None:
        changes["notes"] = notes
    if completed is not None:
        changes["completed"] = completed
    if not changes:
        raise InvalidInput("nothing to change: give title, notes or completed")
    changes["updated_at"] = _now()
    with ctx.storage.transaction() as conn:
        result = conn.execute(ctx.storage.update(items).where(items.c.id == id).values(**changes))
        if result.rowcount == 0:
            raise NotFound(f"todo item {id} does not exist", id=id)
        return _fetch(ctx, conn, id)


@plugin.tool(scopes=["todo:write"], title="Delete a todo item", destructive=True, idempotent=False)
def delete(ctx: ToolContext, id: ItemId) -> Deleted:
    """Delete a todo item for good.

    Args:
        id: The item's id.
    """
    with ctx.storage.transaction() as conn:
        result = conn.execute(ctx.storage.delete(items).where(items.c.id == id))
        if result.rowcount == 0:
            raise NotFound(f"todo item {id} does not exist", id=id)
    return Deleted(id=id)


# Resources and prompts: what an agent reads into its context, or a user picks from a menu,
# behind the same `todo:read` scope and the same per-tenant storage as the tools.

OPEN = items.c.completed.is_(False)


def _open_items(ctx: ToolContext, conn: Connection) -> tuple[list[TodoItem], int]:
    """The oldest `MAX_SHOWN` open items, and how many are open in all."""
    stmt = ctx.storage.select(items).where(OPEN).order_by(items.c.id).limit(MAX_SHOWN)
    shown = [_row_to_item(row) for row in conn.execute(stmt)]
    total = conn.execute(ctx.storage.select(items, func.count()).where(OPEN)).scalar_one()
    return shown, int(total)


def _not_shown(shown: list[TodoItem], total: int) -> list[str]:
    left = total - len(shown)
    return (
        [f"({left} more open items not shown: page through them with todo_list.)"] if left else []
    )


@plugin.resource("open", scopes=["todo:read"], title="Open todo items", mime_type="text/markdown")
def open_items(ctx: ToolContext) -> str:
    """The caller's organisation's open todo items, oldest first, as a Markdown checklist."""
    with ctx.storage.transaction() as conn:
        shown, total = _open_items(ctx, conn)
    lines = [f"# Open todo items ({total})", ""]
    lines += [f"- [ ] {entry.title} (#{entry.id})" for entry in shown] or ["Nothing to do."]
    return "\n".join([*lines, *_not_shown(shown, total)]) + "\n"


def item_ids(ctx: ToolContext, value: str) -> list[str]:
    """The ids of the caller's organisation's items that start with what was typed."""
    if value and not value.isdigit():
        return []
    stmt = ctx.storage.select(items, items.c.id).order_by(items.c.id).limit(100)
    if value:
        stmt = stmt.where(cast(items.c.id, String).startswith(value))
    with ctx.storage.transaction() as conn:
        return [str(item_id) for item_id in conn.execute(stmt).scalars()]


@plugin.resource(
    "items/{id}",
    scopes=["todo:read"],
    title="A todo item",
    mime_type="application/json",
    complete={"id": item_ids},
)
def item(ctx: ToolContext, id: str) -> TodoItem:
    """One todo item by id, as JSON: the object `todo_get` returns."""
    # A template's parameters arrive as text: check it as `ItemId` checks a tool's argument.
    if not id.isdigit() or not 1 <= int(id) <= 2**31 - 1:
        raise InvalidInput(f"{id!r} is not a todo item id (1, 2, 3, ...)", id=id)
    with ctx.storage.transaction() as conn:
        return _fetch(ctx, conn, int(id))


def open_titles(ctx: ToolContext, value: str) -> list[str]:
    """The titles of the caller's organisation's open items that start with what was typed."""
    prefix = value.strip().lower()[:MAX_TITLE]
    stmt = (
        ctx.storage.select(items, items.c.title)
        .where(OPEN, func.lower(items.c.title).startswith(prefix, autoescape=True))
        .order_by(items.c.id)
        .limit(100)
    )
    with ctx.storage.transaction() as conn:
        return list(dict.fromkeys(conn.execute(stmt).scalars()))


Hours = Annotated[int, Field(ge=1, le=24, description="Hours available today (1 to 24).")]
Focus = Annotated[BoundedText[MAX_TITLE], Field(description="An open item's title to start with.")]


@plugin.prompt(scopes=["todo:read"], title="Plan my day", complete={"focus": open_titles})
def plan_my_day(ctx: ToolContext, hours: Hours = 8, focus: Focus = "") -> str:
    """Plan the day from the organisation's open todo items, oldest first.

    Args:
        hours: Hours available today (1 to 24).
        focus: The title of an open item to start with (complete it to see them).
    """
    focus = focus.strip()
    with ctx.storage.transaction() as conn:
        shown, total = _open_items(ctx, conn)
        first = _open_titled(ctx, conn, focus) if focus else None
    if not shown:
        return "I have no open todo items today. Suggest how to use the time well."
    if first is not None:
        shown = [first, *(entry for entry in shown if entry.id != first.id)]
    lines = [f"I have {hours} hours today. Plan my day from my open todo items:", ""]
    lines += [_brief(entry) for entry in shown]
    lines += ["", *_not_shown(shown, total)]
    if first is not None:
        lines.append(f"Start with #{first.id}, {first.title!r}.")
    lines.append("Order them, estimate each, and say what does not fit today.")
    return "\n".join(lines)


def _open_titled(ctx: ToolContext, conn: Connection, title: str) -> TodoItem:
    stmt = ctx.storage.select(items).where(OPEN, items.c.title == title).order_by(items.c.id)
    row = conn.execute(stmt.limit(1)).first()
    if row is None:
        raise NotFound(f"no open todo item is titled {title!r}", focus=title)
    return _row_to_item(row)


def _brief(entry: TodoItem) -> str:
    """One item for the prompt: id, title and the start of its notes."""
    notes = entry.notes[:NOTES_EXCERPT] + ("..." if len(entry.notes) > NOTES_EXCERPT else "")
    return f"- #{entry.id} {entry.title}" + (f": {notes}" if notes else "")
