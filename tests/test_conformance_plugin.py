"""The conformance test plugins answer as the MCP conformance suite's scenarios expect.

The suite itself runs in ``nox -s conformance`` (Node, npm, minutes); these are the same
checks over HTTP for the scenarios the plugins serve, in the default run, so the plugins
cannot rot between suite runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
