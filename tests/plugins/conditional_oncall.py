from plughost import Plugin, ToolContext

plugin = Plugin(
    scopes={
        "oncall:page": "Page the primary on-call of a team",
        "oncall:page:escalate": "Page beyond the primary on-call",
        "oncall:admin": "Change rotations",
    }
)


@plugin.tool(
    scopes=["oncall:page"],
    conditional_scopes={"oncall:page:escalate": "when paging beyond the primary on-call"},
)
def page(ctx: ToolContext, team: str, escalate: bool = False) -> str:
    "Page a team's on-call."
    if escalate:
        ctx.require_scopes("oncall:page:escalate", reason="escalating needs oncall:page:escalate")
    return f"paged {team}"


@plugin.tool(scopes=["oncall:page"])
def override(ctx: ToolContext, team: str) -> str:
    "Take over a rotation (an old release: needs oncall:admin but does not declare it)."
    ctx.require_scopes("oncall:admin")
    return f"took over {team}"


@plugin.tool(scopes=["oncall:page"])
def level(ctx: ToolContext, name: str) -> str:
    "Asks for a scope made up at run time, which the plugin never declared."
    ctx.require_scopes(f"oncall:{name}")
    return name
