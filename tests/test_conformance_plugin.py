"""The conformance test plugins answer as the MCP conformance suite's scenarios expect.

The suite itself runs in ``nox -s conformance`` (Node and npm); these are the same checks over
HTTP for the scenarios the plugins serve (all but the progress and log notifications, which the
suite reads from the response stream), in the default run, so the plugins cannot rot between
suite runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_sampling import replying, session_call
from test_stream_asking import answering, sdk_call

PACKAGE = Path(__file__).parent / "conformance" / "plugin" / "src" / "plughost_conformance"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


@pytest.fixture
def suite_host(make_dist: Any, plughost_factory: Any) -> Any:
    """The host as ``nox -s conformance`` runs it: both plugins, ``$defs`` kept."""
    source = (PACKAGE / "__init__.py").read_text()
    make_dist("conformance-test", source, namespace="test", obj="test_plugin")
    make_dist("conformance-json", source, namespace="json", obj="json_plugin")
    return plughost_factory(plugins=["test", "json"], settings={"inline_schema_refs": False})


def test_tools_list_and_the_2020_12_schema(suite_host: Any) -> None:
    tools = {tool["name"]: tool for tool in suite_host.client().list_tools()}
    assert {"test_simple_text", "test_error_handling", "json_schema_2020_12_tool"} <= set(tools)
    assert all(tool["description"] and tool["inputSchema"] for tool in tools.values())
    schema = tools["json_schema_2020_12_tool"]["inputSchema"]
    assert schema["$schema"] == DIALECT
    assert set(schema["$defs"]["address"]["properties"]) == {"street", "city"}
    assert schema["additionalProperties"] is False


def test_simple_text_and_error_handling(suite_host: Any) -> None:
    client = suite_host.client()
    text = client.call("test_simple_text")
    assert text.ok
    assert text.result["content"] == [
        {"type": "text", "text": "This is a simple text response for testing."}
    ]
    failed = client.call("test_error_handling")
    assert failed.result["isError"] is True
    assert failed.result["content"][0]["text"]


def test_rich_tool_results(suite_host: Any) -> None:
    client = suite_host.client()
    (image,) = client.call("test_image_content").result["content"]
    assert image["type"] == "image" and image["mimeType"] == "image/png" and image["data"]
    (audio,) = client.call("test_audio_content").result["content"]
    assert audio["type"] == "audio" and audio["mimeType"] == "audio/wav" and audio["data"]
    (embedded,) = client.call("test_embedded_resource").result["content"]
    assert embedded["resource"]["uri"] == "test://embedded-resource"
    mixed = client.call("test_multiple_content_types").result["content"]
    assert [block["type"] for block in mixed] == ["text", "image", "resource"]
    assert mixed[2]["resource"]["mimeType"] == "application/json"


def test_resources_and_a_template(suite_host: Any) -> None:
    client = suite_host.client()

    def read(uri: str) -> dict[str, Any]:
        reply = client.request("resources/read", {"uri": uri})
        assert reply.status_code == 200, reply.body
        (contents,) = reply.result["contents"]
        assert contents["uri"] == uri
        return dict(contents)

    text = read("test://static-text")
    assert text["mimeType"] == "text/plain"
    assert text["text"] == "This is the content of the static text resource."
    binary = read("test://static-binary")
    assert binary["mimeType"] == "image/png" and binary["blob"]
    assert "123" in read("test://template/123/data")["text"]


def test_prompts_and_completion(suite_host: Any) -> None:
    client = suite_host.client()

    def get(name: str, **arguments: str) -> list[dict[str, Any]]:
        reply = client.request("prompts/get", {"name": name, "arguments": arguments})
        assert reply.status_code == 200, reply.body
        return list(reply.result["messages"])

    assert get("test_simple_prompt")[0]["content"]["text"]
    with_args = str(get("test_prompt_with_arguments", arg1="testValue1", arg2="testValue2"))
    assert "testValue1" in with_args and "testValue2" in with_args
    embedded = get("test_prompt_with_embedded_resource", resourceUri="test://example-resource")
    assert embedded[0]["content"]["type"] == "resource"
    assert get("test_prompt_with_image")[0]["content"]["type"] == "image"
    ref = {"type": "ref/prompt", "name": "test_prompt_with_arguments"}
    completed = client.request(
        "completion/complete", {"ref": ref, "argument": {"name": "arg1", "value": "test"}}
    )
    assert completed.result["completion"]["values"] == ["test", "testing"]


def test_the_elicitation_tools_ask_on_the_stream(suite_host: Any) -> None:
    """The three elicitation scenarios, as the suite's 2025-11-25 client meets them."""
    token = suite_host.token(["test:call"])
    seen: list = []
    contact = {"username": "testuser", "email": "test@example.com"}
    result = sdk_call(
        suite_host.mcp_url,
        token,
        answering(("accept", contact), seen=seen),
        "test_elicitation",
        {"message": "Please provide your information"},
    )
    assert seen[0][0] == "Please provide your information"
    assert set(seen[0][1]["properties"]) == {"username", "email"}
    assert result.content[0].text == (
        'User response: <action: accept, content: {"username": "testuser", '
        '"email": "test@example.com"}>'
    )
    for tool, field, shape in (
        ("test_elicitation_sep1034_defaults", "age", {"type": "integer", "default": 30}),
        ("test_elicitation_sep1330_enums", "legacyEnum", {"type": "string"}),
    ):
        seen.clear()
        done = sdk_call(
            suite_host.mcp_url, token, answering(("decline", None), seen=seen), tool, {}
        )
        assert shape.items() <= seen[0][1]["properties"][field].items()
        assert done.content[0].text == "Elicitation completed: action=decline, content=null"


def test_the_sampling_tool_asks_the_clients_model_on_the_stream(suite_host: Any) -> None:
    """tools-call-sampling, as the suite's 2025-11-25 client (sampling declared) meets it."""
    seen: list = []
    result = session_call(
        suite_host.mcp_url,
        suite_host.token(["test:call"]),
        replying("This is a test response from the client", seen),
        "test_sampling",
        {"prompt": "Test prompt for sampling"},
    )
    assert [(p.messages[0].content.text, p.max_tokens) for p in seen] == [
        ("Test prompt for sampling", 100)
    ]
    assert result.content[0].text == "LLM response: This is a test response from the client"
