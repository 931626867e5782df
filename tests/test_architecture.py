"""docs/architecture.md is a true map: every module it names exists, every module is named,
and the SDK imports nothing of the host."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "host" / "plughost"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
NAMED = re.compile(r"`(plughost/[\w/]+\.py)`|\b((?:core|edge|auth|ops|sdk|testing)/\w+\.py)\b")


def named_modules() -> set[str]:
    found = set()
    for full, short in NAMED.findall(ARCHITECTURE.read_text(encoding="utf-8")):
        found.add(full or f"plughost/{short}")
    return found


def host_modules() -> set[str]:
    return {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent.name in ("plughost", "testing")
    }


def test_every_module_the_map_names_exists() -> None:
    missing = sorted(m for m in named_modules() if not (PACKAGE.parent / m).is_file())
    assert not missing, f"docs/architecture.md names modules that are gone: {missing}"


def test_every_module_is_on_the_map() -> None:
    unnamed = sorted(host_modules() - named_modules())
    assert not unnamed, f"add a line for each to docs/architecture.md: {unnamed}"


def test_the_sdk_imports_nothing_of_the_host() -> None:
    for path in (PACKAGE / "sdk").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("plughost"):
                assert node.module.startswith("plughost.sdk"), f"{path.name} imports {node.module}"
