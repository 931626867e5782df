"""Rich tool results over HTTP: images, audio, embedded resources and resource links, mixed with
text and beside structured output, as MCP clients receive them; and what the host still
promises for them (the size limit, the output schema, guardrails, one way to declare them).

The ``test`` plugin's first four tools are the MCP conformance suite's scenarios 7 to 10
(``tools-call-image``, ``-audio``, ``-embedded-resource``, ``-mixed-content``), written with
nothing but the SDK, so a plugin can pass them.
"""

from __future__ import annotations

import base64
import io
import json
import wave

import pytest
from jsonschema import Draft202012Validator
from test_docs import GUIDE, REFERENCE, blocks

from plughost.testing import PluginNotLoaded

MEDIA = """
import io
import json
import wave

from pydantic import BaseModel

from plughost import Plugin, ToolContext
from plughost.content import Audio, Content, EmbeddedResource, Image, ResourceLink

plugin = Plugin(scopes={"test:use": "Call the probe tools"})

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(bytes(1600))
    return out.getvalue()


class Forecast(BaseModel):
    city: str
    celsius: list[int]


@plugin.tool(scopes=["test:use"], read_only=True)
def image_content(ctx: ToolContext) -> Image:
    "A 1x1 PNG."
    return Image(PNG, "image/png")


@plugin.tool(scopes=["test:use"], read_only=True)
def audio_content(ctx: ToolContext) -> Audio:
    "A tenth of a second of silence."
    return Audio(wav(), "audio/wav")


@plugin.tool(scopes=["test:use"], read_only=True)
def embedded_resource(ctx: ToolContext) -> EmbeddedResource:
    "A text resource, embedded."
    return EmbeddedResource(
        "test://embedded-resource", "This is an embedded resource content.", "text/plain"
    )


@plugin.tool(scopes=["test:use"], read_only=True)
def multiple_content_types(ctx: ToolContext) -> Content:
    "Text, an image and a JSON resource."
    return Content(
        [
            "Multiple content types test:",
            Image(PNG, "image/png"),
            EmbeddedResource(
                "test://mixed-content-resource",
                json.dumps({"test": "data", "value": 123}),
                "application/json",
            ),
        ]
    )


@plugin.tool(scopes=["test:use"], read_only=True)
def blob(ctx: ToolContext, n: int) -> EmbeddedResource:
    "A binary resource of n bytes."
    data = bytes(range(256)) * (n // 256)
    return EmbeddedResource("test://blob", data, "application/octet-stream")


@plugin.tool(scopes=["test:use"], read_only=True)
def link(ctx: ToolContext) -> ResourceLink:
    "A link to a resource."
    return ResourceLink(
        "https://files.example.com/q3.pdf", "Q3 report", "application/pdf", "The board's copy"
    )


@plugin.tool(scopes=["test:use"], read_only=True)
def forecast(ctx: ToolContext, city: str) -> Content[Forecast]:
    "A chart and the numbers behind it."
    return Content(
        [f"The week in {city}", Image(PNG, "image/png")],
        structured=Forecast(city=city, celsius=[18, 21]),
    )


@plugin.tool(scopes=["test:use"], read_only=True)
def photo(ctx: ToolContext, kib: int) -> Image:
    "A large image."
    return Image(bytes(kib * 1024), "image/png")


@plugin.tool(scopes=["test:use"])
def mislabelled(ctx: ToolContext) -> dict:
    "Declares a dict, returns an image: a bug."
    return Image(PNG, "image/png")


@plugin.tool(scopes=["test:use"])
def undeclared_structure(ctx: ToolContext) -> Content:
    "Structured output without its type declared: a bug."
    return Content(["text"], structured={"a": 1})


@plugin.tool(scopes=["test:use"])
def base64_text(ctx: ToolContext) -> Image:
    "Hands over base64 text where the bytes belong: a bug."
    return Image("iVBORw0KGgo=", "image/png")
"""

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)
LIMIT = 10_000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def guide_example() -> str:
    """The rich results example exactly as the plugin authors' guide shows it."""
    (example,) = [s.body for s in blocks(GUIDE) if "from plughost.content import" in s.body]
    return example


def redaction_example() -> str:
    (example,) = [s.body for s in blocks(REFERENCE) if "def redact_emails" in s.body]
    return example


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """One host for the module's calls (started by hand, as ``tests/test_fastpath.py`` does)."""
    import sys

    from conftest import DistFactory

    from plughost.testing import LiveHost

    site = tmp_path_factory.mktemp("site")
    sys.path.insert(0, str(site))
    install = DistFactory(site)
    install("acme-media", MEDIA, namespace="test")
    install("acme-charts", guide_example(), namespace="charts")
    live = LiveHost(
        data_dir=tmp_path_factory.mktemp("rich"),
        plugins=["test", "charts"],
        settings={"max_result_bytes": LIMIT, "audit": {"sink": "off"}},
        in_process=True,
    ).start()
    yield live
    live.stop()
    sys.path.remove(str(site))


@pytest.fixture(scope="module")
def agent(host):
    return host.client()


def content(agent, tool: str, **arguments) -> list[dict]:
    call = agent.call(tool, **arguments)
    assert call.ok, call.body
    return call.result["content"]


def test_an_image_is_one_image_block_with_its_bytes_in_base64(agent):
    assert content(agent, "test_image_content") == [
        {"type": "image", "data": b64(PNG), "mimeType": "image/png"}
    ]


def test_audio_is_one_audio_block_of_type_audio_wav(agent):
    (block,) = content(agent, "test_audio_content")
    assert block["type"] == "audio" and block["mimeType"] == "audio/wav"
    with wave.open(io.BytesIO(base64.b64decode(block["data"]))) as sound:
        assert sound.getnframes() == 800


def test_an_embedded_text_resource_keeps_its_uri_type_and_text(agent):
    assert content(agent, "test_embedded_resource") == [
        {
            "type": "resource",
            "resource": {
                "uri": "test://embedded-resource",
                "mimeType": "text/plain",
                "text": "This is an embedded resource content.",
            },
        }
    ]


def test_an_embedded_binary_resource_arrives_as_a_base64_blob(agent):
    (block,) = content(agent, "test_blob", n=1024)
    resource = block["resource"]
    assert block["type"] == "resource" and "text" not in resource
    assert resource["uri"] == "test://blob"
    assert resource["mimeType"] == "application/octet-stream"
    assert base64.b64decode(resource["blob"]) == bytes(range(256)) * 4


def test_a_resource_link_names_the_resource_without_its_contents(agent):
    assert content(agent, "test_link") == [
        {
            "type": "resource_link",
            "uri": "https://files.example.com/q3.pdf",
            "name": "Q3 report",
            "mimeType": "application/pdf",
            "description": "The board's copy",
        }
    ]


def test_mixed_content_keeps_its_order_text_image_and_resource(agent):
    blocks = content(agent, "test_multiple_content_types")
    assert [b["type"] for b in blocks] == ["text", "image", "resource"]
    assert blocks[0]["text"] == "Multiple content types test:"
    assert blocks[1] == {"type": "image", "data": b64(PNG), "mimeType": "image/png"}
    resource = blocks[2]["resource"]
    assert resource["uri"] == "test://mixed-content-resource"
    assert resource["mimeType"] == "application/json"
    assert json.loads(resource["text"]) == {"test": "data", "value": 123}


def test_tools_returning_only_blocks_have_no_output_schema(agent):
    tools = {tool["name"]: tool for tool in agent.list_tools()}
    for name in ("image_content", "audio_content", "embedded_resource", "multiple_content_types"):
        assert "outputSchema" not in tools[f"test_{name}"], tools[f"test_{name}"]


def test_structured_output_beside_blocks_has_its_schema_and_validates(agent):
    call = agent.call("test_forecast", city="Oslo")
    assert call.ok, call.body
    assert call.data == {"city": "Oslo", "celsius": [18, 21]}
    blocks = call.result["content"]
    assert [b["type"] for b in blocks] == ["text", "image", "text"]
    assert blocks[0]["text"] == "The week in Oslo"
    assert json.loads(blocks[2]["text"]) == call.data  # for clients that read only text
    (tool,) = [t for t in agent.list_tools() if t["name"] == "test_forecast"]
    schema = tool["outputSchema"]
    assert set(schema["properties"]) == {"city", "celsius", "error"}
    assert not list(Draft202012Validator(schema).iter_errors(call.data))


def test_every_block_counts_against_the_result_limit_as_sent(agent):
    """8 KiB is under the 10,000-byte limit, but its base64 (10,924 bytes) is not."""
    assert agent.call("test_photo", kib=7).ok
    answer = agent.call("test_photo", kib=8)
    assert answer.error["code"] == "result_too_large", answer.body
    assert answer.error["details"] == {"bytes": 10_924, "limit": LIMIT}
    assert "PLUGHOST_MAX_RESULT_BYTES" in answer.error["message"]
    assert "image" not in {b["type"] for b in answer.result["content"]}
    assert agent.call("test_blob", n=8192).error["code"] == "result_too_large"


@pytest.mark.parametrize("tool", ["mislabelled", "undeclared_structure", "base64_text"])
def test_a_result_that_breaks_its_declaration_is_an_internal_error(agent, tool):
    answer = agent.call(f"test_{tool}")
    assert answer.status_code == 200
    assert answer.error["code"] == "internal_error", answer.body
    assert answer.headers["x-request-id"] in answer.error["message"]
    assert "Traceback" not in answer.text


def test_the_guides_example_serves_what_the_guide_says(agent):
    (chart,) = content(agent, "charts_chart", region="north")
    assert chart["type"] == "image" and chart["mimeType"] == "image/png"
    call = agent.call("charts_report", region="north")
    assert call.ok, call.body
    assert call.data == {"region": "north", "units": 1250}
    blocks = call.result["content"]
    assert [b["type"] for b in blocks] == ["text", "image", "resource", "resource_link", "text"]
    assert blocks[2]["resource"] == {
        "uri": "charts://sales/north.csv",
        "mimeType": "text/csv",
        "text": "month,units\nmay,1250\n",
    }
    assert blocks[3]["uri"] == "https://dashboards.example.com/sales/north"


def test_guardrails_rewrite_the_text_and_keep_the_other_blocks(plughost_factory, make_dist):
    make_dist("acme-redact", redaction_example(), namespace="redact")
    make_dist(
        "acme-mail",
        """
from plughost import Plugin, ToolContext
from plughost.content import Content, Image

plugin = Plugin(scopes={"mail:read": "Read mail"})


@plugin.tool(scopes=["mail:read"], read_only=True)
def card(ctx: ToolContext) -> Content:
    "A contact card."
    return Content(["ada@example.com", Image(b"png", "image/png"), "call her"])
""",
        namespace="mail",
    )
    host = plughost_factory(plugins=["mail", "redact"], in_process=True)
    blocks = content(host.client(), "mail_card")
    assert blocks == [
        {"type": "text", "text": "[redacted]"},
        {"type": "image", "data": b64(b"png"), "mimeType": "image/png"},
        {"type": "text", "text": "call her"},
    ]


@pytest.mark.parametrize("returns", ["list[Image]", "Image | None", "dict[str, Image]"])
def test_content_declared_any_other_way_fails_the_plugins_load_naming_the_tool(
    plughost_factory, make_dist, returns
):
    make_dist(
        "acme-odd",
        f"""
from plughost import Plugin, ToolContext
from plughost.content import Image

plugin = Plugin(scopes={{"odd:use": "Use"}})


@plugin.tool(scopes=["odd:use"])
def pictures(ctx: ToolContext) -> {returns}:
    "Several images, declared the wrong way."
    return []
""",
        namespace="odd",
    )
    with pytest.raises(PluginNotLoaded, match=r"odd_pictures.*Content") as refused:
        plughost_factory(plugins=["odd"], in_process=True)
    assert "plughost.sdk" not in str(refused.value)
