import asyncio
from enum import Enum
from typing import Literal

from pydantic import BaseModel

from plughost import InvalidInput, NotFound, Plugin, ToolContext

plugin = Plugin(scopes={"oncall:read": "Read incidents", "oncall:write": "Open incidents"})


class Severity(str, Enum):  # noqa: UP042 - the (str, Enum) form plugins write
    LOW = "low"
    HIGH = "high"


class Incident(BaseModel):
    id: int
    title: str
    severity: Severity


@plugin.tool(scopes=["oncall:write"], timeout=0.5)
def open_incident(
    ctx: ToolContext, title: str, severity: Severity, fail: Literal["", "crash", "slow"] = ""
) -> Incident:
    "Open an incident."
    if fail == "crash":
        raise RuntimeError("bug")
    if fail == "slow":
        import time

        time.sleep(2)
    if not title.strip():
        raise InvalidInput("title must not be blank", field="title")
    return Incident(id=1, title=title, severity=severity)


@plugin.tool(scopes=["oncall:read"], read_only=True)
def responders(ctx: ToolContext, team: str) -> list[str]:
    "Who is on call for a team."
    if team != "core":
        raise NotFound(f"team {team} does not exist", team=team)
    return ["ann", "bob"]


@plugin.tool(scopes=["oncall:read"], read_only=True)
def counts(ctx: ToolContext, team: str) -> dict[str, int]:
    "Open incidents per severity."
    if team != "core":
        raise NotFound(f"team {team} does not exist")
    return {"low": 1, "high": 0}


@plugin.tool(scopes=["oncall:read"], read_only=True)
async def status(ctx: ToolContext, team: str) -> str:
    "One word."
    await asyncio.sleep(0)
    if team != "core":
        raise NotFound(f"team {team} does not exist")
    return "calm"
