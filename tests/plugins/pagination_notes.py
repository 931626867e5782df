from sqlalchemy import Column, Integer, Text

from plughost import Cursor, PageSize, Plugin, ToolContext

plugin = Plugin(scopes={"notes:read": "Read", "notes:write": "Write"})
notes = plugin.table("notes_items", Column("id", Integer, primary_key=True), Column("body", Text))


@plugin.tool(scopes=["notes:write"])
def add(ctx: ToolContext, body: str) -> int:
    "Add a note."
    with ctx.storage.transaction() as db:
        return db.execute(ctx.storage.insert(notes).values(body=body)).inserted_primary_key[0]


@plugin.tool(scopes=["notes:read"], read_only=True)
def search(ctx: ToolContext, cursor: Cursor | None = None, limit: PageSize = 3) -> dict:
    "Notes, oldest first."
    after = ctx.pages.after(cursor)
    query = ctx.storage.select(notes)
    if after is not None:
        query = query.where(notes.c.id > after["id"])
    with ctx.storage.transaction() as db:
        rows = db.execute(query.order_by(notes.c.id).limit(limit + 1)).all()
    page, next_cursor = ctx.pages.page(rows, limit, lambda row: {"id": row.id})
    return {"bodies": [row.body for row in page], "next_cursor": next_cursor}


@plugin.tool(scopes=["notes:read"], read_only=True, name="list")
def list_notes(ctx: ToolContext, cursor: Cursor | None = None) -> dict:
    "The same notes through another tool."
    return {"after": ctx.pages.after(cursor)}


@plugin.tool(scopes=["notes:read"], read_only=True)
def everything(ctx: ToolContext) -> dict:
    "A tool asking for a page beyond the SDK's bound: a bug."
    page, _ = ctx.pages.page(list(range(1000)), 1000, lambda row: row)
    return {"count": len(page)}
