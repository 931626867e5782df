from pydantic import BaseModel

from plughost import InvalidInput, NotFound, Plugin, ToolContext
from plughost.content import Audio, Content, EmbeddedResource, Image, ResourceLink

plugin = Plugin(scopes={"diff:use": "Use the probe tools", "diff:extra": "Escalate"})


class Pair(BaseModel):
    a: int
    b: int


@plugin.tool(scopes=["diff:use"], read_only=True)
def add(ctx: ToolContext, a: int, b: int) -> int:
    "Add two numbers."
    return a + b


@plugin.tool(scopes=["diff:use"], read_only=True)
def pair(ctx: ToolContext, a: int) -> Pair:
    "A structured result."
    return Pair(a=a, b=a * 2)


@plugin.tool(scopes=["diff:use"], read_only=True)
def words(ctx: ToolContext, n: int) -> list[str]:
    "A list result."
    return ["w"] * n


@plugin.tool(scopes=["diff:use"], read_only=True)
def text(ctx: ToolContext, n: int = 3) -> str:
    "A text result, as long as asked."
    return "x" * n


@plugin.tool(scopes=["diff:use"], read_only=True)
def rich(ctx: ToolContext, kib: int = 1) -> Content[Pair]:
    "Every kind of block, with structured output beside them."
    return Content(
        [
            "a caption",
            Image(bytes(kib * 1024), "image/png"),
            Audio(b"RIFF", "audio/wav"),
            EmbeddedResource("diff://text", "embedded", "text/plain"),
            EmbeddedResource("diff://blob", bytes([0, 255]), "application/octet-stream"),
            ResourceLink("https://example.com/r", "a link", "text/html", "somewhere"),
        ],
        structured=Pair(a=kib, b=kib * 2),
    )


@plugin.tool(scopes=["diff:use"])
def nothing(ctx: ToolContext) -> None:
    "No result at all."


@plugin.tool(scopes=["diff:use"])
def plain(ctx: ToolContext):
    "An unannotated result."
    return {"free": "form"}


@plugin.tool(scopes=["diff:use"])
def missing(ctx: ToolContext, id: int) -> dict:
    "A tool error."
    raise NotFound(f"nothing has id {id}", id=id)


@plugin.tool(scopes=["diff:use"])
def refuse(ctx: ToolContext) -> dict:
    "Bad input, said by the tool."
    raise InvalidInput("not like that")


@plugin.tool(scopes=["diff:use"])
def crash(ctx: ToolContext) -> str:
    "An unexpected failure."
    raise RuntimeError("boom")


@plugin.tool(scopes=["diff:use"], conditional_scopes={"diff:extra": "always, to test a 403"})
def escalate(ctx: ToolContext) -> str:
    "Needs a scope it asks for while running."
    ctx.require_scopes("diff:extra")
    return "escalated"
