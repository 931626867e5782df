"""What the tools accept from agents, and the YAML manifests they read and write.

Every name an agent passes ends up in a file path and every reason in a commit message, so
they are checked here before anything touches git: names cannot climb out of the layout root,
and reasons cannot forge commit trailers. The argument types bound each one first, so input of
any size is refused by validation before a tool runs, and what an error message repeats of an
argument is short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from plughost import InvalidInput, Text, ToolError

NAME_RULE = "1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
VERSION_RULE = "MAJOR.MINOR.PATCH with an optional leading 'v', '-prerelease' and '+build'"
MAX_NAME = 63
MAX_REASON = 500
MAX_VERSION = 128
MAX_COMMIT = 40

Name = Text[MAX_NAME]
Version = Text[MAX_VERSION]
Reason = Text[MAX_REASON]
CommitId = Text[MAX_COMMIT]

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
    """One app in one environment: the parsed YAML, with every key the file had.

    Only ``image`` and ``version`` have meaning here; other keys (replicas, resources, whatever
    the deploy controller reads) are carried through untouched on every write.
    """

    path: str
    data: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def image(self) -> str:
        return str(self.data["image"])

    def with_release(self, version: str, image: str | None = None) -> Manifest:
        """The same manifest pointing at another release; key order is kept."""
        data = dict(self.data)
        data["version"] = version
        if image is not None:
            data["image"] = image
        return Manifest(self.path, data)

    def dump(self) -> str:
        return yaml.safe_dump(self.data, sort_keys=False, default_flow_style=False)


def parse_manifest(path: str, text: str) -> Manifest:
    """Parse a manifest file; a file the plugin cannot use is an error naming the file."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ToolError(f"{path} is not valid YAML: {exc}", code="invalid_manifest") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), str) and data[key] for key in ("image", "version")
    ):
        raise ToolError(
            f"{path} must be a YAML mapping with string 'image' and 'version' keys",
            code="invalid_manifest",
            path=path,
        )
    return Manifest(path, data)
