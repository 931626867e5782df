from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"shop:read": "Read the shop"})


@plugin.tool(scopes=["shop:read"], read_only=True)
def customer(ctx: ToolContext, name: str) -> dict:
    "A customer's contact."
    return {"name": name, "email": f"{name}@example.com"}


@plugin.tool(scopes=["shop:read"], read_only=True)
def note(ctx: ToolContext, text: str) -> str:
    "Echo a note."
    return text
