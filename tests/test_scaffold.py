"""``plughost new-plugin``: the package it writes installs beside the host, loads and passes."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from packaging.requirements import Requirement

from plughost import __version__
from plughost.cli import main
from plughost.scaffold import host_requirement


def run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command in ``cwd`` with the host's data (keys, database) kept under ``cwd`` too."""
    env = {**os.environ, "PLUGHOST_DATA_DIR": str(cwd / ".plughost")}
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def venv_beside_this_host(path: Path) -> Path:
    """A new virtualenv that sees this interpreter's packages, so only the plugin gets installed.

    ``--system-site-packages`` would show the base interpreter's packages, not the (nox or
    developer) virtualenv the host is installed in; a ``.pth`` line chains that one in instead,
    the editable installs' own ``.pth`` files included. pip then finds ``plughost`` already there.
    """
    venv.create(path, with_pip=True)
    python = path / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=path)
    chain = "".join(f"import site; site.addsitedir({d!r})\n" for d in site.getsitepackages())
    (Path(purelib.stdout.strip()) / "zz_plughost_host.pth").write_text(chain)
    return python


def test_new_plugin_installs_passes_its_tests_and_loads(tmp_path: Path) -> None:
    target = tmp_path / "plughost-demo"
    made = run(
        sys.executable, "-m", "plughost", "new-plugin", "demo", "--dir", target, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    pyproject = (target / "pyproject.toml").read_text()
    assert 'name = "plughost-demo"' in pyproject
    assert 'demo = "plughost_demo:plugin"' in pyproject
    assert f'"{host_requirement()}"' in pyproject
    assert (target / "README.md").is_file() and (target / "CHANGELOG.md").is_file()

    python = venv_beside_this_host(tmp_path / "venv")
    installed = run(
        python, "-m", "pip", "install", "--disable-pip-version-check", target, cwd=tmp_path
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    # Only the plugin: pip found the host (and the plugin's other needs) already installed.
    assert "Successfully installed plughost-demo-0.1.0\n" in installed.stdout, installed.stdout

    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=target)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout

    report = run(python, "-m", "plughost", "plugins", "--json", cwd=tmp_path, timeout=120)
    assert report.returncode == 0, report.stderr
    demo = next(r for r in json.loads(report.stdout) if r["namespace"] == "demo")
    assert demo["status"] == "loaded", demo
    assert demo["distribution"] == "plughost-demo"
    assert [(t["name"], t["scopes"]) for t in demo["tools"]] == [("demo_hello", ["demo:read"])]
    assert [(c["kind"], c["name"], c["scopes"], c["completes"]) for c in demo["components"]] == [
        ("template", "demo://greetings/{language}", ["demo:read"], ["language"]),
        ("prompt", "demo_welcome", ["demo:read"], ["language"]),
    ]


ROOT = Path(__file__).parent.parent


def host_source(destination: Path) -> Path:
    """A copy of this checkout's host project, so building it never writes into the checkout."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, destination / name)
    shutil.copytree(
        ROOT / "host",
        destination / "host",
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
    )
    return destination


def clean_env(cwd: Path, **extra: str) -> dict[str, str]:
    """This environment without PLUGHOST_ settings, nox's or the venv's markers; plus ``extra``."""
    dropped = ("PLUGHOST_", "SCALEKIT_", "VIRTUAL_ENV", "NOX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**env, "PLUGHOST_DATA_DIR": str(cwd / ".plughost"), **extra}


def imported_top_levels(folder: Path) -> set[str]:
    """The top-level names every ``import`` under ``folder`` reaches."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


def test_new_plugin_is_a_repository_ready_for_ci(tmp_path: Path) -> None:
    """The generated repository's own CI (`nox`: its tests against the installed host, and
    ruff) passes as generated, with the host installed the way its README says."""
    target = tmp_path / "plughost-oncall"
    made = run(
        sys.executable, "-m", "plughost", "new-plugin", "oncall", "--dir", target, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    assert "nox" in made.stdout

    pyproject = tomllib.loads((target / "pyproject.toml").read_text())
    declared = {Requirement(r).name.replace("-", "_") for r in pyproject["project"]["dependencies"]}
    tests_may_use = declared | {
        Requirement(r).name for r in pyproject["project"]["optional-dependencies"]["test"]
    }
    assert imported_top_levels(target / "src") <= declared | {"plughost_oncall"}
    assert imported_top_levels(target / "tests") <= tests_may_use | {"plughost_oncall"}
    assert pyproject["tool"]["ruff"]["line-length"] == 100

    workflow = yaml.safe_load((target / ".github" / "workflows" / "ci.yml").read_text())
    steps = [step.get("run") for job in workflow["jobs"].values() for step in job["steps"]]
    assert steps[-2:] == ["python -m pip install nox", "nox"]
    assert (target / ".gitignore").read_text().startswith(".venv/")

    readme = (target / "README.md").read_text()
    assert "PLUGHOST_REQUIREMENT" in readme and ".venv/bin/nox" in readme
    assert "PLUGHOST_REQUIREMENT" in (target / "noxfile.py").read_text()

    source = host_source(tmp_path / "host-checkout")
    env = clean_env(target, PLUGHOST_REQUIREMENT=str(source))
    ci = subprocess.run(
        [sys.executable, "-m", "nox", "--no-color"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    output = ci.stdout + ci.stderr
    assert ci.returncode == 0, output[-4000:]
    assert "Session tests was successful" in output and "Session lint was successful" in output
    assert re.search(r"\b6 passed\b", output), output[-2000:]


def test_the_generated_readmes_develop_commands_work_as_written(tmp_path: Path) -> None:
    target = tmp_path / "plughost-oncall"
    made = run(
        sys.executable, "-m", "plughost", "new-plugin", "oncall", "--dir", target, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    readme = (target / "README.md").read_text()
    develop = readme.split("## Develop", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert develop.startswith("python3 -m venv .venv\n"), develop
    source = host_source(tmp_path / "host-checkout")
    env = clean_env(target, PLUGHOST_REQUIREMENT=str(source))
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", develop],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert re.search(r"\b6 passed\b", done.stdout), done.stdout[-2000:]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Demo", "not a valid plugin name"),
        ("my-tools", "not a valid plugin name"),
        ("9lives", "not a valid plugin name"),
        ("a" * 33, "at most 32"),
    ],
)
def test_new_plugin_refuses_a_bad_name(tmp_path: Path, name: str, message: str) -> None:
    result = CliRunner().invoke(main, ["new-plugin", name, "--dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_new_plugin_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("precious")
    result = CliRunner().invoke(main, ["new-plugin", "demo", "--dir", str(tmp_path / "mine")])
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.1.0", "plughost>=0.1,<0.2"),
        ("0.9.3", "plughost>=0.9,<0.10"),
        ("1.4", "plughost>=1.4,<1.5"),
    ],
)
def test_the_range_is_the_host_minor_line(host: str, expected: str) -> None:
    assert host_requirement(host) == expected
    assert host_requirement() == host_requirement(__version__)
