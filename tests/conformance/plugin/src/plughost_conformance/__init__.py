"""The tools, resources and prompts the MCP conformance suite's server scenarios use, written as
any plugin author would write them: only public SDK names, nothing the host grants test code.

Two plugins, because the suite's names span two namespaces: ``test`` (``test_*`` tools and
prompts, ``test://`` resources) and ``json`` (``json_schema_2020_12_tool``). What the suite
expects of each scenario, and which ones the SDK cannot serve yet, is in this package's README.
"""

from __future__ import annotations

import base64
import io
import json
import time
import wave
from typing import Any

from pydantic import BaseModel

from plughost import Plugin, ToolContext, ToolError
from plughost.content import Audio, Content, EmbeddedResource, Image, Message
from plughost.elicitation import Ask

test_plugin = Plugin(scopes={"test:call": "Use the MCP conformance suite's test tools"})
json_plugin = Plugin(scopes={"json:call": "Call the MCP conformance suite's JSON Schema tool"})
SCOPES = ["test:call"]

SIMPLE_TEXT = "This is a simple text response for testing."
STATIC_TEXT = "This is the content of the static text resource."
# A 1x1 PNG, the image every image scenario expects.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
#: How long the logging and progress tools wait between messages (the suite's ~50 ms).
STEP_SECONDS = 0.05


def _wav() -> bytes:
    """A tenth of a second of silence, a real WAV file (8 kHz, 16-bit mono)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    return buffer.getvalue()


# Tools: tools-call-* scenarios.


@test_plugin.tool(scopes=SCOPES, read_only=True)
def simple_text(ctx: ToolContext) -> str:
    """Answer a fixed text (tools-call-simple-text)."""
    return SIMPLE_TEXT


@test_plugin.tool(scopes=SCOPES, read_only=True)
def image_content(ctx: ToolContext) -> Image:
    """Answer a 1x1 PNG image (tools-call-image)."""
    return Image(PNG, "image/png")


@test_plugin.tool(scopes=SCOPES, read_only=True)
def audio_content(ctx: ToolContext) -> Audio:
    """Answer a short WAV sound (tools-call-audio)."""
    return Audio(_wav(), "audio/wav")


@test_plugin.tool(scopes=SCOPES, read_only=True)
def embedded_resource(ctx: ToolContext) -> EmbeddedResource:
    """Answer a resource embedded in the result (tools-call-embedded-resource)."""
    return EmbeddedResource(
        "test://embedded-resource", "This is an embedded resource content.", "text/plain"
    )


@test_plugin.tool(scopes=SCOPES, read_only=True)
def multiple_content_types(ctx: ToolContext) -> Content:
    """Answer text, an image and a JSON resource together (tools-call-mixed-content)."""
    resource = json.dumps({"test": "data", "value": 123})
    return Content(
        [
            "Multiple content types test:",
            Image(PNG, "image/png"),
            EmbeddedResource("test://mixed-content-resource", resource, "application/json"),
        ]
    )


@test_plugin.tool(scopes=SCOPES, read_only=True)
def tool_with_logging(ctx: ToolContext) -> str:
    """Send three log messages while running (tools-call-with-logging)."""
    for step in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        ctx.log(step, level="info")
        time.sleep(STEP_SECONDS)
    return "Tool with logging executed successfully"


@test_plugin.tool(scopes=SCOPES, read_only=True)
def tool_with_progress(ctx: ToolContext) -> str:
    """Report progress 0, 50 and 100 of 100 while running (tools-call-with-progress)."""
    for done in (0, 50, 100):
        ctx.progress(done, 100, f"{done}% done")
        time.sleep(STEP_SECONDS)
    return "Tool with progress executed successfully"


@test_plugin.tool(scopes=SCOPES, read_only=True)
def error_handling(ctx: ToolContext) -> str:
    """Fail on purpose, as a tool error the agent reads (tools-call-error)."""
    raise ToolError("This tool intentionally returns an error for testing", code="test_error")


# Asking the user (tools-call-elicitation, elicitation-sep1034-defaults, -sep1330-enums): the
# suite's client is on 2025-11-25, so each question goes out on the call's stream.


class Contact(BaseModel):
    """What test_elicitation asks for."""

    username: str
    email: str


#: A form with a default of each primitive type (SEP-1034).
DEFAULTS_FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {
            "type": "string",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "default": True},
    },
}

#: Every enum shape of SEP-1330: untitled, titled (oneOf), legacy (enumNames), two multi-selects.
ENUMS_FORM = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
}


def _completed(ctx: ToolContext, key: str, message: str, form: dict[str, Any]) -> str | Ask:
    """Ask once; then say what the user did, as the suite reads it."""
    answer = ctx.answer(key)
    if answer is None:
        return ctx.ask(key, message, form)
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.data)}"


@test_plugin.tool(scopes=SCOPES, read_only=True)
def elicitation(ctx: ToolContext, message: str) -> str | Ask:
    """Ask the user for a username and an email (tools-call-elicitation)."""
    answer = ctx.answer("contact")
    if answer is None:
        return ctx.ask("contact", message, Contact)
    return f"User response: <action: {answer.action}, content: {json.dumps(answer.data)}>"


@test_plugin.tool(scopes=SCOPES, read_only=True)
def elicitation_sep1034_defaults(ctx: ToolContext) -> str | Ask:
    """Ask with a default for each primitive type (elicitation-sep1034-defaults)."""
    return _completed(ctx, "defaults", "Check these values", DEFAULTS_FORM)


@test_plugin.tool(scopes=SCOPES, read_only=True)
def elicitation_sep1330_enums(ctx: ToolContext) -> str | Ask:
    """Ask with every enum shape (elicitation-sep1330-enums)."""
    return _completed(ctx, "enums", "Pick some options", ENUMS_FORM)


# Asking the client's model (tools-call-sampling): on the call's stream too; a client that
# cannot sample gets the SDK's sampling_unavailable error, as the scenario asks.


@test_plugin.tool(scopes=SCOPES, read_only=True)
async def sampling(ctx: ToolContext, prompt: str) -> str:
    """Send the prompt to the client's model and answer its reply (tools-call-sampling)."""
    reply = await ctx.sample(prompt, max_tokens=100)
    return f"LLM response: {reply}"


# Resources: test://<path>, the scheme being the namespace (resources-* scenarios).


@test_plugin.resource("static-text", scopes=SCOPES, mime_type="text/plain")
def static_text(ctx: ToolContext) -> str:
    """A fixed text resource (resources-read-text)."""
    return STATIC_TEXT


@test_plugin.resource("static-binary", scopes=SCOPES, mime_type="image/png")
def static_binary(ctx: ToolContext) -> bytes:
    """A fixed binary resource, a 1x1 PNG (resources-read-binary)."""
    return PNG


@test_plugin.resource("template/{id}/data", scopes=SCOPES, mime_type="application/json")
def template_data(ctx: ToolContext, id: str) -> dict[str, str]:
    """The data of one item, by id (resources-templates-read)."""
    return {"id": id, "templateTest": "true", "data": f"Data for ID: {id}"}


# Prompts: test_<name> (prompts-* scenarios) and a completer (completion-complete).


def _argument_values(ctx: ToolContext, value: str) -> list[str]:
    return [v for v in ("paris", "park", "party", "test", "testing") if v.startswith(value)]


@test_plugin.prompt(scopes=SCOPES, name="simple_prompt")
def simple_prompt(ctx: ToolContext) -> str:
    """A prompt without arguments (prompts-get-simple)."""
    return "This is a simple prompt for testing."


@test_plugin.prompt(
    scopes=SCOPES, name="prompt_with_arguments", complete={"arg1": _argument_values}
)
def prompt_with_arguments(ctx: ToolContext, arg1: str, arg2: str) -> str:
    """A prompt with two required arguments (prompts-get-with-args; arg1 completes)."""
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@test_plugin.prompt(scopes=SCOPES, name="prompt_with_embedded_resource")
def prompt_with_embedded_resource(ctx: ToolContext, resourceUri: str) -> list[Message]:
    """A prompt embedding the resource it is given (prompts-get-embedded-resource; the
    argument's camelCase name is the suite's)."""
    resource = EmbeddedResource(resourceUri, "Embedded resource content for testing.", "text/plain")
    return [Message(resource), Message("Please process the embedded resource above.")]


@test_plugin.prompt(scopes=SCOPES, name="prompt_with_image")
def prompt_with_image(ctx: ToolContext) -> list[Message]:
    """A prompt showing an image (prompts-get-with-image)."""
    return [Message(Image(PNG, "image/png")), Message("Please analyze the image above.")]


# The json namespace: json-schema-2020-12.


# Lowercase: the suite looks for `$defs.address`, and pydantic names the entry after the class.
class address(BaseModel):
    """A postal address: a nested model, so the input schema has a `$defs` entry."""

    street: str | None = None
    city: str | None = None


@json_plugin.tool(scopes=["json:call"], read_only=True, name="schema_2020_12_tool")
def schema_2020_12_tool(
    ctx: ToolContext, name: str | None = None, address: address | None = None
) -> dict[str, object]:
    """Echo a name and an address (json-schema-2020-12 reads only the input schema: the 2020-12
    dialect, ``$defs.address``, and ``additionalProperties: false``)."""
    return {"name": name, "address": address.model_dump() if address else None}
