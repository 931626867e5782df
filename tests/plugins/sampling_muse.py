"""A plugin that asks the client's model mid-call (sampling), and says when it cannot."""

from typing import Any

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"muse:write": "Write with the client's model"})


@plugin.tool(scopes=["muse:write"])
async def haiku(ctx: ToolContext, topic: str) -> str:
    """A haiku about a topic, written by the client's model."""
    poem = await ctx.sample(f"A haiku about {topic}", max_tokens=60, system="You are a poet.")
    return f"poem: {poem}"


@plugin.tool(scopes=["muse:write"])
async def title(ctx: ToolContext, topic: str) -> dict[str, Any]:
    """A title from the client's model when it can sample, else one made up here."""
    if not ctx.can_sample:
        return {"title": topic.title(), "sampled": False}
    return {"title": await ctx.sample(f"A title about {topic}"), "sampled": True}


@plugin.tool(scopes=["muse:write"])
async def chain(ctx: ToolContext, times: int) -> list[str]:
    """Ask the model ``times`` times in one call (the host bounds how many)."""
    return [await ctx.sample(f"line {n}", max_tokens=10) for n in range(times)]
