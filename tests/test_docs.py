"""The docs against the code: every public name and hook in the reference with its current
signature, every host setting in the operator's guide, and every snippet in the README and the
docs run as written.

Reference convention (docs/reference.md): each entry is a ``###`` heading holding the name in
backticks (``Plugin.tool``, ``plughost_startup``); where the entry is callable, the first line of
the first fenced block under the heading is its signature exactly as `api` renders it below.

Snippet convention: every fenced ``python`` and ``sh`` block runs, in one of these ways
(`Snippet.kind`):

- ``title="path"``: a file of the document's example project (the README's and the guide's
  plugin), installed and tested with its own tests;
- a reference entry's signature: checked against the code above;
- ``sh`` blocks of ``NAME=value`` lines: settings, loaded and validated by the host;
- blocks naming the local host's port 8000: run against a ``plughost serve`` on a free port
  (the port replaced), with ``$TOKEN`` set and ``.nox/serve`` as ``nox -s serve`` leaves it;
- other ``python`` blocks: run on their own; other ``sh`` blocks: run in order, in one shell per
  document, in an empty directory (the guide's: from a new virtualenv to a tested plugin);
- ``no-run="why"``: not run, for what a test cannot do (install from the public index, serve
  until stopped, reach a deployment), rarely and always with the reason.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from processes import cli_env, run_cli, serve
from pydantic import BaseModel

import plughost
import plughost.content
import plughost.elicitation
import plughost.guardrails
import plughost.sdk.hookspecs
import plughost.testing
import plughost.tokens
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


#: The SDK's public modules: every name in their ``__all__`` is in the reference.
PUBLIC_MODULES = (
    plughost,
    plughost.guardrails,
    plughost.tokens,
    plughost.content,
    plughost.elicitation,
    plughost.testing,
)


def api() -> dict[str, str | None]:
    """Every documented entry: name to signature line (None where nothing is callable)."""
    entries: dict[str, str | None] = {}
    for module in PUBLIC_MODULES:
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


SNIPPET_DOCS = (ROOT / "README.md", *sorted(DOCS.glob("*.md")))
#: Languages a fenced block may be tagged with; only python and sh are code that runs.
LANGUAGES = {"python", "sh", "toml", "json", "dockerfile", "yaml", ""}
NO_RUN = re.compile(r'\bno-run="([^"]+)"')
TITLE = re.compile(r'\btitle="([^"]+)"')
SETTING = re.compile(r"^[A-Z][A-Z0-9_]*=")
#: The port the docs give a local host; the tests serve on a free one and put it in its place.
DOCS_PORT = re.compile(r"\b8000\b")


@dataclass(frozen=True)
class Snippet:
    """One fenced block: where it is, its info string and its text."""

    doc: Path
    line: int
    info: str
    body: str

    @property
    def language(self) -> str:
        return self.info.split(maxsplit=1)[0] if self.info else ""

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def title(self) -> str | None:
        match = TITLE.search(self.info)
        return match[1] if match else None

    @property
    def no_run(self) -> str | None:
        match = NO_RUN.search(self.info)
        return match[1] if match else None

    @property
    def kind(self) -> str:
        """How the docs test runs this block (see the module's docstring)."""
        if self.no_run is not None:
            return "no-run"
        if self.title is not None:
            return "example file"
        if self.doc == REFERENCE and self.line in signature_lines():
            return "signature"
        lines = [x for x in self.body.splitlines() if x.strip() and not x.startswith("#")]
        if self.language == "sh" and all(SETTING.match(x) for x in lines):
            return "settings"
        if DOCS_PORT.search(self.body):
            return "live"
        return "standalone" if self.language == "python" else "session"


def blocks(markdown: Path) -> list[Snippet]:
    """Every fenced block in ``markdown``, with the line its fence opens on."""
    found: list[Snippet] = []
    info: str | None = None
    start, body = 0, []
    for number, line in enumerate(markdown.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if match and info is None:
            info, start, body = match["info"].strip(), number, []
        elif line.startswith("```") and info is not None:
            found.append(Snippet(markdown, start, info, "\n".join(body) + "\n"))
            info = None
        elif info is not None:
            body.append(line)
    return found


@cache
def signature_lines() -> frozenset[int]:
    """The lines of the reference's signature blocks: the first block under each entry."""
    lines, current = set(), False
    for snippet_line, text in enumerate(REFERENCE.read_text(encoding="utf-8").splitlines(), 1):
        if text.startswith("#"):
            current = HEADING.match(text) is not None
        elif current and FENCE.match(text):
            lines.add(snippet_line)
            current = False
    return frozenset(lines)


def snippets(*kinds: str) -> list[Snippet]:
    """Every python and sh block of the README and the docs, of the given kinds."""
    found = [s for doc in SNIPPET_DOCS for s in blocks(doc) if s.language in ("python", "sh")]
    return [s for s in found if s.kind in kinds]


def example_files(doc: Path) -> dict[str, str]:
    """The document's example project: its ``title="path"`` blocks."""
    return {s.title: s.body for s in blocks(doc) if s.title is not None}


def snippet_env(cwd: Path, **extra: str) -> dict[str, str]:
    """This environment without the host's settings, its data under ``cwd``, plus ``extra``."""
    dropped = ("PLUGHOST_", "SCALEKIT_", "VIRTUAL_ENV", "NOX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**env, "PLUGHOST_DATA_DIR": str(cwd / ".plughost"), **extra}


def run_snippet(
    snippet: Snippet, cwd: Path, env: dict[str, str], text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one snippet (or ``text`` in its place) as python or under ``bash -euo pipefail``."""
    code = snippet.body if text is None else text
    command = (
        [sys.executable, "-c", code]
        if snippet.language == "python"
        else ["bash", "-euo", "pipefail", "-c", code]
    )
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def test_every_fenced_block_says_its_language() -> None:
    """A block tagged ``bash`` or ``py`` would slip past the runner; none is."""
    tagged = {s.where: s.language for doc in SNIPPET_DOCS for s in blocks(doc)}
    odd = {where: language for where, language in tagged.items() if language not in LANGUAGES}
    assert not odd, f"tag code blocks python or sh (or a data format): {odd}"


def test_snippets_left_unrun_are_few_and_say_why() -> None:
    runnable = snippets("no-run", "example file", "settings", "live", "standalone", "session")
    skipped = [s for s in runnable if s.kind == "no-run"]
    vague = [s.where for s in skipped if len(str(s.no_run).split()) < 4]
    assert not vague, f'no-run="..." must say why the snippet cannot run: {vague}'
    assert 3 * len(skipped) <= len(runnable), (
        f"{len(skipped)} of {len(runnable)} snippets are no-run: make more of them run"
    )


@pytest.mark.parametrize("snippet", snippets("standalone"), ids=lambda s: s.where)
def test_python_snippets_run_on_their_own(snippet: Snippet, tmp_path: Path) -> None:
    done = run_snippet(snippet, tmp_path, snippet_env(tmp_path))
    assert done.returncode == 0, f"{snippet.where}\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("snippet", snippets("settings"), ids=lambda s: s.where)
def test_settings_snippets_are_settings_the_host_accepts(snippet: Snippet, tmp_path: Path) -> None:
    variables = dict(
        token.split("=", 1) for token in shlex.split(snippet.body, comments=True) if "=" in token
    )
    check = "from plughost.settings import load_settings; load_settings()"
    done = subprocess.run(
        [sys.executable, "-c", check],
        env=snippet_env(tmp_path, **variables),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{snippet.where}: {done.stderr}"


def test_snippets_for_a_running_host_work_against_one(tmp_path: Path) -> None:
    """What the README tells a reader to do while ``nox -s serve`` runs, done against a host."""
    live = snippets("live")
    assert live, "the README's token, curl and Python SDK snippets are live snippets"
    sandbox = tmp_path / "checkout"
    tools = sandbox / ".nox" / "serve" / "bin"
    tools.mkdir(parents=True)
    (tools / "plughost").symlink_to(Path(sys.executable).parent / "plughost")
    env = cli_env(tmp_path / "data")
    served = serve(env)
    try:
        port = served.url.rsplit(":", 1)[1]
        token = run_cli(env, "token", "--scope", "todo:read todo:write").stdout.strip()
        for snippet in live:
            text = DOCS_PORT.sub(port, snippet.body)
            done = run_snippet(snippet, sandbox, {**env, "TOKEN": token}, text)
            output = done.stdout + done.stderr
            assert done.returncode == 0, f"{snippet.where}\n{output}"
            assert '"error"' not in done.stdout and '"isError":true' not in done.stdout, output
    finally:
        served.stop()


def host_checkout(destination: Path) -> Path:
    """A copy of this checkout's host project, for ``PLUGHOST_REQUIREMENT``: installing it
    builds it, and a build must never write into the checkout other sessions work in."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, destination / name)
    shutil.copytree(
        ROOT / "host",
        destination / "host",
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
    )
    return destination


SESSION_DOCS = sorted({s.doc for s in snippets("session")})


@pytest.mark.parametrize("doc", SESSION_DOCS, ids=lambda d: d.name)
def test_shell_snippets_run_in_order_as_a_reader_would(doc: Path, tmp_path: Path) -> None:
    """The document's shell steps, top to bottom in one shell, in an empty directory, with the
    host installed from this checkout (``PLUGHOST_REQUIREMENT``, as the guide says)."""
    steps = [s for s in snippets("session") if s.doc == doc]
    script = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + "".join(
        f"# {s.where}\n{s.body}" for s in steps
    )
    sandbox = tmp_path / "reader"
    sandbox.mkdir()
    requirement = str(host_checkout(tmp_path / "plughost-checkout"))
    env = snippet_env(sandbox, PLUGHOST_REQUIREMENT=requirement)
    done = run_snippet(steps[0], sandbox, env, script)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]


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
    files = example_files(GUIDE)
    assert {"pyproject.toml", "tests/test_notes.py"} <= set(files), sorted(files)
    assert f'"{host_requirement()}"' in files["pyproject.toml"], (
        "the guide's pyproject.toml should show the range `plughost new-plugin` writes today"
    )
    project = tmp_path / "plughost-notes"
    result = run_example_tests(project, install_example(project, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout), result.stdout
    for check in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        lint = run_ruff(project, check)
        assert lint.returncode == 0, f"the guide's example fails its own `ruff {check[0]}`:\n" + (
            lint.stdout + lint.stderr
        )


def run_ruff(project: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """ruff over the example with the settings its pyproject.toml shows (the reader's lint)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed here; the host's nox session installs it")
    return subprocess.run([ruff, *args], cwd=project, capture_output=True, text=True, timeout=120)


def test_the_readme_example_installs_loads_and_passes(tmp_path: Path) -> None:
    """The README's short plugin: its pyproject, module and test, taken as they are."""
    files = example_files(ROOT / "README.md")
    assert {"pyproject.toml", "tests/test_notes.py"} <= set(files), sorted(files)
    project = tmp_path / "readme-example"
    result = run_example_tests(project, install_example(project, files))
    assert result.returncode == 0, result.stdout + result.stderr
