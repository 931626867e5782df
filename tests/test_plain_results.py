"""The host converts a tool's plain value in one pass (`plughost.core.plain_results`); every value
must come out exactly as FastMCP's own `Tool.convert_result` makes it, and fail where it fails.
And a result goes on the wire dumped directly (`wire_dump`), exactly as its `CallToolResult`.

Each case is a return annotation (what the tool declares) and a value it returns; the tool is
built as the host serves it (FastMCP's tool, output schema admitting error results)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import typing
import warnings
from typing import Any

import pytest
from fastmcp.tools import Tool
from fastmcp.tools.base import RawStructuredToolResult, ToolResult
from fastmcp.utilities.types import Image
from mcp.types import CallToolResult, ImageContent, TextContent
from mcp_types.methods import serialize_server_result
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from plughost.core.adapter import error_result
from plughost.core.plain_results import PlainResults
from plughost.core.tool_schema import admit_errors
from plughost.core.wire_results import dump, wire_dump, wire_result

UNDECLARED = object()


class Forecast(BaseModel):
    city: str
    high: float
    when: datetime.date
    tags: list[str] = Field(default_factory=list, alias="labels")


class Pair(TypedDict):
    key: str
    count: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Colour(enum.Enum):
    RED = "red"


FORECAST = Forecast(city="Oslo", high=3.5, when=datetime.date(2026, 12, 7), labels=["cold"])
TEXT = TextContent(type="text", text="as content")
NESTED: list[Any] = []
for _ in range(2000):  # deeper than any serializer follows
    NESTED = [NESTED]

CASES: list[tuple[Any, Any]] = [
    (str, "hello"),
    (str, ""),
    (str, 'naïve ☃ \u2028 quotes " and \\'),
    (str, "NaN and Infinity, as words"),
    (str | None, None),
    (str | None, "present"),
    (int, 0),
    (int, -(2**70)),
    (float, 1.5),
    (float, 1e300),
    (float, float("nan")),
    (float, float("inf")),
    (bool, True),
    (None, None),
    (dict[str, Any], {"a": [1, {"b": None}], "c": "d"}),
    (dict[str, Any], {}),
    (dict[str, Any], {"bad": float("nan")}),
    (dict[int, str], {1: "one"}),
    (list[int], [1, 2, 3]),
    (list[int], []),
    (list[str], ["NaN"]),
    (tuple[int, str], (1, "a")),
    (Forecast, FORECAST),
    (Forecast | None, None),
    (list[Forecast], [FORECAST, FORECAST]),
    (Pair, {"key": "k", "count": 2}),
    (Point, Point(1, 2)),
    (Colour, Colour.RED),
    (datetime.datetime, datetime.datetime(2026, 12, 7, 1, 2, 3)),
    (bytes, b"raw bytes"),
    (set[int], {3}),
    (Forecast, {"city": "not a model"}),
    (int, "not an int"),
    (UNDECLARED, "hello"),
    (UNDECLARED, 42),
    (UNDECLARED, None),
    (UNDECLARED, {"a": 1}),
    (UNDECLARED, [1, "two", None]),
    (UNDECLARED, []),
    (UNDECLARED, FORECAST),
    (UNDECLARED, [FORECAST]),
    (UNDECLARED, [datetime.date(2026, 12, 7), Colour.RED, [TEXT]]),
    (UNDECLARED, [Image(data=b"png", format="png"), "and text"]),
    (UNDECLARED, NESTED),
    (UNDECLARED, {"fn": object()}),
    (UNDECLARED, TEXT),
    (UNDECLARED, [TEXT, "and text"]),
    (UNDECLARED, ImageContent(type="image", data="aGk=", mime_type="image/png")),
    (UNDECLARED, ToolResult(content=[TEXT], structured_content={"x": 1})),
    (UNDECLARED, CallToolResult(content=[TEXT], is_error=True)),
]


def served(annotation: Any) -> Tool:
    """A FastMCP tool returning ``annotation``, served as the host serves tools."""

    async def tool(value: str) -> Any:
        return value

    if annotation is UNDECLARED:
        del tool.__annotations__["return"]
    else:
        tool.__annotations__["return"] = annotation
    made = Tool.from_function(tool)
    return made.model_copy(update={"output_schema": admit_errors(made.output_schema)})


def outcome(convert: Any, value: Any) -> tuple[str, Any]:
    """What converting ``value`` gives: the result's class and every field, or the error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic warns of a value unlike its type; both alike
        try:
            result = convert(value)
        except Exception as exc:  # the error itself is what is compared
            return "raised", (type(exc), str(exc))
    return type(result).__name__, (
        result.model_dump(mode="json"),
        result.to_mcp_result(),
        result.model_fields_set,
    )


def case_id(annotation: Any, value: Any) -> str:
    declared = "undeclared" if annotation is UNDECLARED else getattr(annotation, "__name__", None)
    return f"{declared or annotation}->{type(value).__name__}"


@pytest.mark.parametrize(("annotation", "value"), CASES, ids=[case_id(*case) for case in CASES])
def test_plain_value_converts_exactly_as_fastmcp_converts_it(annotation: Any, value: Any) -> None:
    tool = served(annotation)
    assert outcome(PlainResults.of(tool), value) == outcome(tool.convert_result, value)


def test_the_corpus_reaches_both_the_one_pass_and_fastmcp() -> None:
    """Not a corpus of fallbacks: most values take the host's own pass."""
    taken = 0
    for annotation, value in CASES:
        tool = served(annotation)
        plain = PlainResults.of(tool)
        spied = PlainResults(plain.serializer, plain.output_schema, lambda _value: None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = spied(value)
        taken += result is not None  # None: handed to the fallback
    assert taken >= 25
    assert taken < len(CASES)


def converted() -> list[ToolResult]:
    """The corpus's values as FastMCP converts them (those it refuses left out)."""
    results = []
    for annotation, value in CASES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results.append(served(annotation).convert_result(value))
        except Exception:  # refused: nothing reaches the wire
            continue
    return results


#: Results as tools produce them: plain values, content, errors, FastMCP's own wrapping.
RESULTS: list[ToolResult] = [
    *converted(),
    ToolResult(content=[TEXT], structured_content={"x": None}, meta={"k": [1, None]}),
    ToolResult(
        content=[ImageContent(type="image", data="aGk=", mime_type="image/png")], is_error=True
    ),
    ToolResult.from_mcp_result(CallToolResult(content=[TEXT], structured_content={"y": 2})),
    RawStructuredToolResult(content=[TEXT], structured_content=[1, 2]),
    error_result("invalid_input", "bad", {"fields": ["x"]}),
]


@pytest.mark.parametrize("version", sorted(HANDSHAKE_PROTOCOL_VERSIONS))
def test_a_result_dumped_directly_is_on_the_wire_what_its_call_tool_result_is(
    version: str,
) -> None:
    """`wire_dump` skips building the `CallToolResult`; what reaches the wire is the same."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for result in RESULTS:
            expected = serialize_server_result("tools/call", version, dump(wire_result(result)))
            assert serialize_server_result("tools/call", version, wire_dump(result)) == expected


def test_a_return_type_pydantic_cannot_serialise_leaves_every_value_to_fastmcp() -> None:
    tool = served(str)

    class Opaque:  # no schema: serialised as Any, as FastMCP serialises it
        pass

    assert PlainResults.of(tool.model_copy(update={"return_type": Opaque})).serializer

    class Refused(typing.TypedDict):  # pydantic refuses typing's TypedDict before 3.12
        key: str

    broken = PlainResults.of(tool.model_copy(update={"return_type": Refused}))
    handed: list[Any] = []
    PlainResults(broken.serializer, broken.output_schema, handed.append)({"key": "k"})
    assert handed == [{"key": "k"}]
