"""A todo list per organisation: the smallest complete Plughost plugin."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy import Boolean, Column, Integer, String, Text

from plughost import InvalidInput, NotFound, Plugin, ToolContext, UTCDateTime

MAX_TITLE = 200
MAX_NOTES = 2000


class TodoSettings(BaseModel):
    page_size: int = Field(20, ge=1, le=100, description="Items per page when listing.")


plugin = Plugin(
    scopes={
        "todo:read": "Read your organisation's todo items.",
        "todo:write": "Create, change and delete your organisation's todo items.",
    },
    settings=TodoSettings,
)

items = plugin.table(
    "todo_items",
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(MAX_TITLE), nullable=False),
    Column("notes", Text, nullable=False, default=""),
    Column("completed", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
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


Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE, description="What to do.")]
Notes = Annotated[str, Field(max_length=MAX_NOTES, description="Longer details.")]


def _now() -> datetime:
    return datetime.now(UTC)


def _clean_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise InvalidInput("title must not be blank")
    return title


def _row_to_item(row: object) -> TodoItem:
    return TodoItem.model_validate(row, from_attributes=True)


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"todo:{last_id}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "todo":
            raise ValueError(kind)
        return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(
            "cursor is not one this tool returned; omit it to start from the first page"
        ) from None


def _fetch(ctx: ToolContext, conn: object, item_id: int) -> TodoItem:
    row = conn.execute(ctx.storage.select(items).where(items.c.id == item_id)).first()  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"todo item {item_id} does not exist", id=item_id)
    return _row_to_item(row)


@plugin.tool(scopes=["todo:write"], title="Create a todo item", idempotent=False)
def create(ctx: ToolContext, title: Title, notes: Notes = "") -> TodoItem:
    """Add an item to the caller's organisation's todo list.

    Args:
        title: What needs doing (1 to 200 characters).
        notes: Optional details (up to 2000 characters).
    """
    now = _now()
    with ctx.storage.transaction() as conn:
        result = conn.execute(
            ctx.storage.insert(items).values(
                title=_clean_title(title),
                notes=notes,
                completed=False,
                created_at=now,
                updated_at=now,
            )
        )
        return _fetch(ctx, conn, result.inserted_primary_key[0])


@plugin.tool(scopes=["todo:read"], name="list", title="List todo items", read_only=True)
def list_items(
    ctx: ToolContext, completed: bool | None = None, cursor: str | None = None
) -> TodoPage:
    """List todo items, oldest first, a page at a time.

    Args:
        completed: Only done items (true) or only open ones (false); all when omitted.
        cursor: The `next_cursor` of the previous page.
    """
    page_size = ctx.settings.page_size
    stmt = ctx.storage.select(items).order_by(items.c.id).limit(page_size + 1)
    if completed is not None:
        stmt = stmt.where(items.c.completed == completed)
    if cursor:
        stmt = stmt.where(items.c.id > _decode_cursor(cursor))
    with ctx.storage.transaction() as conn:
        rows = conn.execute(stmt).all()
    page = [_row_to_item(r) for r in rows[:page_size]]
    more = len(rows) > page_size
    return TodoPage(items=page, next_cursor=_encode_cursor(page[-1].id) if more else None)


@plugin.tool(scopes=["todo:read"], title="Get a todo item", read_only=True)
def get(ctx: ToolContext, id: int) -> TodoItem:
    """Get one todo item by id.

    Args:
        id: The item's id.
    """
    with ctx.storage.transaction() as conn:
        return _fetch(ctx, conn, id)


@plugin.tool(scopes=["todo:write"], title="Update a todo item", idempotent=True)
def update(
    ctx: ToolContext,
    id: int,
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
def delete(ctx: ToolContext, id: int) -> Deleted:
    """Delete a todo item for good.

    Args:
        id: The item's id.
    """
    with ctx.storage.transaction() as conn:
        result = conn.execute(ctx.storage.delete(items).where(items.c.id == id))
        if result.rowcount == 0:
            raise NotFound(f"todo item {id} does not exist", id=id)
    return Deleted(id=id)
