"""A plugin that asks its user before it acts: the multi-round-trip flow, and the fallback."""

from typing import Any, Literal

from pydantic import BaseModel

from plughost import Plugin, ToolContext, ToolError
from plughost.elicitation import Ask

plugin = Plugin(scopes={"ship:go": "Ship things"})

SHIPPED: list[str] = []


class Crew(BaseModel):
    size: int
    lead: str
    shift: Literal["day", "night"] = "day"


@plugin.tool(scopes=["ship:go"])
def ship(ctx: ToolContext, target: str, confirm: bool = False) -> str | Ask:
    """Ship to a target once the user agrees (or with confirm=true, when it cannot ask)."""
    if not confirm:
        answer = ctx.answer("confirm")
        if answer is None:
            return ctx.ask(
                "confirm",
                f"Ship to {target}?",
                fallback="ask the user, then call again with confirm=true",
            )
        if not answer.accepted:
            raise ToolError(f"the user chose {answer.action}: nothing shipped", code="not_shipped")
    SHIPPED.append(target)
    return f"shipped to {target}"


@plugin.tool(scopes=["ship:go"])
def crew(ctx: ToolContext, target: str) -> dict[str, Any] | Ask:
    """Two questions in two rounds, with what the first round worked out remembered."""
    go = ctx.answer("go")
    if go is None:
        return ctx.ask("go", f"Staff {target}?", remember={"berth": f"{target}-7"})
    if not go.accepted:
        return {"staffed": False, "action": go.action}
    chosen = ctx.answer("crew", Crew)
    if chosen is None:
        return ctx.ask("crew", "Which crew?", Crew)
    return {
        "staffed": chosen.accepted,
        "crew": chosen.data.model_dump() if chosen.accepted else None,
        "berth": ctx.remembered.get("berth"),
        "can_ask": ctx.can_ask,
    }
