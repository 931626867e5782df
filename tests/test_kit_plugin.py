"""The test kit is loaded into every pytest run where plughost is installed (``pytest11``).

That is the decision written down in docs/reference.md ("Test kit"): fine only while the kit
adds fixtures and nothing else. These tests keep it so.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import plughost.testing


def test_the_entry_point_names_the_kit() -> None:
    (kit,) = [ep for ep in entry_points(group="pytest11") if ep.name == "plughost"]
    assert kit.value == "plughost.testing"


def is_fixture(value: object) -> bool:
    """A pytest fixture, as pytest 8.2 (a marked function) and 8.4+ (a wrapper) make them."""
    return hasattr(value, "_pytestfixturefunction") or (
        type(value).__name__ == "FixtureFunctionDefinition"
    )


def test_the_kit_defines_fixtures_and_no_hooks() -> None:
    hooks = [name for name in vars(plughost.testing) if name.startswith("pytest_")]
    assert not hooks, f"the kit must not change how other projects' tests run: {hooks}"
    fixtures = {name for name, value in vars(plughost.testing).items() if is_fixture(value)}
    assert fixtures == {"plughost_factory", "plughost_database"}


def test_another_projects_tests_run_the_same_with_and_without_it(tmp_path: Path) -> None:
    (tmp_path / "test_other.py").write_text("def test_other():\n    assert 1 + 1 == 2\n")
    runs = [
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for extra in ([], ["-p", "no:plughost"])
    ]
    for run in runs:
        assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr
