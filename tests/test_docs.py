"""The docs against the code: every public name and hook in the reference with its current
signature, every host setting in the operator's guide, and the author's guide's (and the
README's) example plugin installed and tested for real.

Reference convention (docs/reference.md): each entry is a ``###`` heading holding the name in
backticks (``Plugin.tool``, ``plughost_startup``); where the entry is callable, the first line of
the first fenced block under the heading is its signature exactly as `api` renders it below.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import plughost
import plughost.sdk.hookspecs
import plughost.testing
from plughost.scaffold import host_requirement
from plughost.settings import ENV_PREFIX, HostSettings

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"
GUIDE = DOCS / "plugin-authors-guide.md"
OPERATORS = DOCS / "operators-guide.md"
HEADING = re.compile(r"^### `(?P<name>[A-Za-z_][\w.]*)`\s*$")
FENCE = re.compile(r"^```(?P<info>.*)$")


class Shown(str):
    """An annotation rendered as written (``str | None``), not quoted as a string."""

    def __repr__(self) -> str:
        return str(self)


def signature(obj: Any, *, prefix: str, drop_first: bool = False, returns: bool = True) -> str:
    """``prefix(params) -> return`` with annotations as written; ``_private`` params left out."""
    sig = inspect.signature(obj)
    params = [p for p in sig.parameters.values() if not p.name.startswith("_")]
    if drop_first:
        params = params[1:]
    params = [p.replace(annotation=_shown(p.annotation)) for p in params]
    result = _shown(sig.return_annotation) if returns else inspect.Signature.empty
    return prefix + str(sig.replace(parameters=params, return_annotation=result))


def _shown(annotation: Any) -> Any:
    if annotation is inspect.Parameter.empty:
        return annotation
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    return Shown(text.replace("typing.", ""))


def _plughost(cls: type) -> bool:
    return cls.__module__.startswith("plughost")


def _class_entries(name: str, cls: type) -> Iterator[tuple[str, str | None]]:
    """The class (with its constructor, where plughost defines one) and its own public API.

    Inherited and overridden members of pydantic, SQLAlchemy or builtin bases are theirs to
    document; hook implementations are documented as hooks.
    """
    init_owner = next(k for k in cls.__mro__ if "__init__" in vars(k))
    constructed = not getattr(cls, "_is_protocol", False) and (
        _plughost(init_owner) or "__pydantic_fields__" in vars(cls)
    )
    yield name, signature(cls, prefix=name, returns=False) if constructed else None
    foreign = {attr for k in cls.__mro__[1:] if not _plughost(k) for attr in vars(k)}
    for attr, value in vars(cls).items():
        if attr.startswith(("_", "plughost_")) or attr in foreign:
            continue
        if isinstance(value, property):
            hint = value.fget.__annotations__.get("return") if value.fget else None
            yield f"{name}.{attr}", f"{name}.{attr}: {_shown(hint)}"
        elif inspect.isfunction(value):
            yield f"{name}.{attr}", signature(value, prefix=f"{name}.{attr}", drop_first=True)


def api() -> dict[str, str | None]:
    """Every documented entry: name to signature line (None where nothing is callable)."""
    entries: dict[str, str | None] = {}
    for module in (plughost, plughost.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                entries.update(_class_entries(name, obj))
            elif inspect.isfunction(obj):
                entries[name] = signature(obj, prefix=name)
            else:
                entries[name] = None
    entries["plughost_factory"] = signature(
        plughost.testing.HostFactory.__call__, prefix="plughost_factory", drop_first=True
    )
    entries.update((name, signature(fn, prefix=name)) for name, fn in hookspecs().items())
    return entries


def hookspecs() -> dict[str, Any]:
    """The functions pluggy's hookspec marker marked in `plughost.sdk.hookspecs`."""
    marker = f"{plughost.sdk.hookspecs.PROJECT}_spec"
    return {name: fn for name, fn in vars(plughost.sdk.hookspecs).items() if hasattr(fn, marker)}


def documented() -> dict[str, str | None]:
    """The reference's entries: heading name to the first line of its first code block."""
    entries: dict[str, str | None] = {}
    current: str | None = None
    lines = iter(REFERENCE.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.startswith("#"):
            match = HEADING.match(line)
            current = match["name"] if match else None
            if current is not None:
                assert current not in entries, f"{current} is documented twice"
                entries[current] = None
        elif current is not None and FENCE.match(line) and entries[current] is None:
            entries[current] = next(lines)
    return entries


def test_every_public_name_and_hook_is_in_the_reference() -> None:
    reference = documented()
    missing = sorted(set(api()) - set(reference))
    assert not missing, f"add to {REFERENCE.name}: " + ", ".join(missing)


def test_the_reference_signatures_are_current() -> None:
    reference = documented()
    stale = {
        name: (line, reference[name])
        for name, line in api().items()
        if name in reference and line is not None and reference[name] != line
    }
    assert not stale, "\n".join(
        f"{name}:\n  code: {now}\n  docs: {then}" for name, (now, then) in stale.items()
    )


def test_the_reference_names_nothing_that_is_gone() -> None:
    gone = sorted(set(documented()) - set(api()))
    assert not gone, f"{REFERENCE.name} documents names the SDK no longer has: {gone}"


def test_the_hooks_are_the_ones_plugin_implements() -> None:
    """Every hook has a `Plugin` implementation, so a `Plugin` is a complete plugin."""
    implemented = {name for name in vars(plughost.Plugin) if name.startswith("plughost_")}
    assert set(hookspecs()) == implemented


def setting_variables(model: type[BaseModel], prefix: str = ENV_PREFIX) -> Iterator[str]:
    """The environment variable of every host setting, nested sections flattened."""
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        if inspect.isclass(field.annotation) and issubclass(field.annotation, BaseModel):
            yield from setting_variables(field.annotation, f"{variable}__")
        else:
            yield variable


def test_every_host_setting_is_in_the_operators_guide() -> None:
    guide = OPERATORS.read_text(encoding="utf-8")
    missing = [v for v in setting_variables(HostSettings) if not re.search(f"`{v}(`|__)", guide)]
    assert not missing, f"document in {OPERATORS.name}: {missing}"


def blocks(markdown: Path) -> list[tuple[str, str]]:
    """Every fenced block in ``markdown`` as (info string, body)."""
    found, info, body = [], None, []
    for line in markdown.read_text(encoding="utf-8").splitlines():
        match = FENCE.match(line)
        if match and info is None:
            info, body = match["info"].strip(), []
        elif line.startswith("```") and info is not None:
            found.append((info, "\n".join(body) + "\n"))
            info = None
        elif info is not None:
            body.append(line)
    return found


def install_example(project: Path, files: dict[str, str]) -> list[Path]:
    """Write a plugin project and make it importable the way ``pip install`` would.

    Returns the ``PYTHONPATH`` entries: the project's source, and a directory holding its
    distribution metadata (name, version, ``Requires-Dist``, entry points) read from its
    ``pyproject.toml``, so the host checks its ``plughost`` range and finds its entry point
    exactly as after a real install.
    """
    for relative, text in files.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text, encoding="utf-8")
    meta = tomllib.loads(files["pyproject.toml"])["project"]
    site = project.parent / "site"
    dist_info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist_info.mkdir(parents=True)
    metadata = ["Metadata-Version: 2.1", f"Name: {meta['name']}", f"Version: {meta['version']}"]
    metadata += [f"Requires-Dist: {req}" for req in meta.get("dependencies", [])]
    (dist_info / "METADATA").write_text("\n".join(metadata) + "\n")
    entry_points = [
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
        for group, points in meta.get("entry-points", {}).items()
    ]
    (dist_info / "entry_points.txt").write_text("".join(entry_points))
    source = project / "src" if (project / "src").is_dir() else project
    return [site, source]


def run_example_tests(project: Path, path: list[Path]) -> subprocess.CompletedProcess[str]:
    """The example's own tests, in a fresh interpreter that sees the example as installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGHOST_", "SCALEKIT_"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_the_guide_example_installs_loads_and_passes_its_tests(tmp_path: Path) -> None:
    files = {}
    for info, body in blocks(GUIDE):
        match = re.search(r'title="([^"]+)"', info)
        if match:
            files[match[1]] = body
    assert {"pyproject.toml", "tests/test_notes.py"} <= set(files), sorted(files)
    assert f'"{host_requirement()}"' in files["pyproject.toml"], (
        "the guide's pyproject.toml should show the range `plughost new-plugin` writes today"
    )
    project = tmp_path / "plughost-notes"
    result = run_example_tests(project, install_example(project, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout), result.stdout


def test_the_readme_example_installs_loads_and_passes(tmp_path: Path) -> None:
    """The README's short plugin: its pyproject, module and test, taken as they are."""
    readme = blocks(ROOT / "README.md")
    pyproject = next(body for info, body in readme if info == "toml" and "mcp_tools" in body)
    module = next(body for info, body in readme if info == "python" and "Plugin(" in body)
    test = next(body for info, body in readme if info == "python" and "def test_" in body)
    namespace = next(iter(tomllib.loads(pyproject)["project"]["entry-points"]["mcp_tools"]))
    files = {
        "pyproject.toml": pyproject,
        f"plughost_{namespace}/__init__.py": module,
        "tests/test_readme.py": test,
    }
    project = tmp_path / "readme-example"
    result = run_example_tests(project, install_example(project, files))
    assert result.returncode == 0, result.stdout + result.stderr
