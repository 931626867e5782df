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
