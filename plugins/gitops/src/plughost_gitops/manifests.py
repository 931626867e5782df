"""What the tools accept from agents, and the YAML manifests they read and write.

Every name an agent passes ends up in a file path and every reason in a commit message, so
they are checked here before anything touches git: names cannot climb out of the layout root,
and reasons cannot forge commit trailers. The argument types bound each one first, so input of
any size is refused by validation before a tool runs, and what an error message repeats of an
argument is short.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarfloat import ScalarFloat
from ruamel.yaml.scalarint import ScalarInt
from ruamel.yaml.scalarstring import ScalarString

from plughost import BoundedText, InvalidInput, ToolError

NAME_RULE = "1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
VERSION_RULE = "MAJOR.MINOR.PATCH with an optional leading 'v', '-prerelease' and '+build'"
MAX_NAME = 63
MAX_REASON = 500
MAX_VERSION = 128
MAX_COMMIT = 40

Name = BoundedText[MAX_NAME]
Version = BoundedText[MAX_VERSION]
Reason = BoundedText[MAX_REASON]
CommitId = BoundedText[MAX_COMMIT]

_NAME = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{MAX_NAME - 1}}}")
_VERSION = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")
_COMMIT = re.compile(r"[0-9a-f]{7,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_name(value: str) -> bool:
    """True for an environment or app name; such names are safe as one path component."""
    return _NAME.fullmatch(value) is not None


def check_name(kind: str, value: str) -> str:
    if not is_name(value):
        raise InvalidInput(
            f"{kind} {value!r} is not a valid name: use {NAME_RULE}", **{kind: value}
        )
    return value


def check_version(value: str) -> str:
    if _VERSION.fullmatch(value) is None:
        raise InvalidInput(
            f"version {value!r} is not a release version: use {VERSION_RULE}, e.g. 1.4.2 or "
            "v2.0.0-rc.1",
            version=value,
        )
    return value


def check_reason(value: str) -> str:
    """A reason fits on one trailer line: a newline could smuggle in a fake `Requested-by:`."""
    reason = value.strip()
    if not reason:
        raise InvalidInput("reason must not be blank: say why this change is needed")
    if _CONTROL.search(reason):
        raise InvalidInput("reason must be one line: no line breaks or control characters")
    return reason


def check_commit(value: str) -> str:
    commit = value.strip().lower()
    if _COMMIT.fullmatch(commit) is None:
        raise InvalidInput(f"{value!r} is not a commit id: give 7 to 40 hex digits", commit=value)
    return commit


def one_line(value: str) -> str:
    """Token claims go into trailers too; collapse any whitespace so each stays one line."""
    return " ".join(_CONTROL.sub(" ", value).split())


@dataclass(frozen=True)
class Manifest:
    """One app in one environment: the file's text and its parsed values.

    Only ``image`` and ``version`` have meaning here. A new release is written into the text by
    a YAML round trip (ruamel.yaml, YAML 1.2), so only those values change: comments, key order,
    quoting, indentation and every other key stay as they were, and nothing is reinterpreted
    (``no`` stays the string ``no``; YAML 1.1 readers made it ``false``).
    """

    path: str
    text: str
    data: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def image(self) -> str:
        return str(self.data["image"])

    def with_release(self, version: str, image: str | None = None) -> Manifest:
        """The same file pointing at another release: only the changed values differ."""
        yaml = _round_trip(*_indents(self.text))
        tree = yaml.load(self.text)
        _replace(tree, "version", version)
        if image is not None:
            _replace(tree, "image", image)
        out = io.StringIO()
        yaml.dump(tree, out)
        return parse_manifest(self.path, out.getvalue())

    def dump(self) -> str:
        return self.text


def _round_trip(mapping: int = 2, sequence: int = 2, offset: int = 0) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line that was not folded
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _indents(text: str) -> tuple[int, int, int]:
    """The file's own indentation: of nested mappings, of sequence items and of their dashes.

    ruamel.yaml writes one style per document, so it has to be told the one the file uses;
    each is read from the first block of its kind that opens under a ``key:``.
    """
    lines = [line for line in text.splitlines() if line.strip() and line.lstrip()[0] != "#"]
    mapping = sequence = offset = None
    for opener, line in pairwise(lines):
        if not opener.split(" #")[0].rstrip().endswith(":"):
            continue
        base = len(opener) - len(opener.lstrip(" -"))
        inner = len(line) - len(line.lstrip())
        item = line.lstrip()
        if item.startswith("- ") and sequence is None:
            offset = inner - base
            sequence = offset + len(item) - len(item[1:].lstrip())
        elif not item.startswith("-") and mapping is None and inner > base:
            mapping = inner - base
    return mapping or 2, sequence or 2, offset or 0


def _replace(tree: CommentedMap, key: str, value: str) -> None:
    """Set ``key`` to ``value``, quoted the way the old value was."""
    old = tree.get(key)
    tree[key] = type(old)(value) if isinstance(old, ScalarString) else value


def plain(value: Any) -> Any:
    """Parsed YAML as plain JSON-ready Python: ruamel's scalar types would serialise oddly."""
    if isinstance(value, dict):  # CommentedMap too
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):  # CommentedSeq too
        return [plain(v) for v in value]
    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, ScalarFloat):
        return float(value)
    if isinstance(value, ScalarInt):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def parse_manifest(path: str, text: str) -> Manifest:
    """Parse a manifest file; a file the plugin cannot use is an error naming the file."""
    try:
        tree = _round_trip().load(text)
    except YAMLError as exc:
        raise ToolError(f"{path} is not valid YAML: {exc}", code="invalid_manifest") from None
    data = plain(tree)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), str) and data[key] for key in ("image", "version")
    ):
        raise ToolError(
            f"{path} must be a YAML mapping with string 'image' and 'version' keys",
            code="invalid_manifest",
            path=path,
        )
    return Manifest(path, text, data)
