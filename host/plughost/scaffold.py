"""``plughost new-plugin``: write a plugin repository ready for CI from the host's templates.

The templates live in ``plughost/templates/plugin``: the package, its tests, a ``noxfile.py``
(tests against the installed host, lint), ruff settings, a GitHub Actions workflow and a README
whose commands work as written. Their paths may hold ``{name}`` (the namespace), start a part
with ``dot-`` for a name starting with ``.`` (``dot-github`` is ``.github``: hidden files are
easily lost from package data) and end in ``.tmpl``; their text is a `string.Template` with
``$name``, ``$dist``, ``$package`` and ``$requirement``. A missing placeholder is an error,
never a silent blank.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from packaging.version import Version

from plughost import __version__
from plughost.core.naming import NAMESPACE_RE

TEMPLATE_SUFFIX = ".tmpl"
#: A template path part starting with this stands for one starting with ".".
HIDDEN_PREFIX = "dot-"
# Leaves room for `<name>_<tool>` under the 64-character limit LLM APIs put on function names.
MAX_NAME = 32


class ScaffoldError(Exception):
    """The plugin cannot be written; the message says why and what to do instead."""


def host_requirement(host_version: str = __version__) -> str:
    """The ``plughost`` range a new plugin declares: this host's minor release line.

    A plugin is written and tested against one minor line of the SDK (``0.1.0`` gives
    ``plughost>=0.1,<0.2``); its author widens the range after testing against a newer host.
    """
    release = Version(host_version).release
    major, minor = release[0], release[1] if len(release) > 1 else 0
    return f"plughost>={major}.{minor},<{major}.{minor + 1}"


def template_values(name: str) -> dict[str, str]:
    """What the templates fill in for namespace ``name``: the names it gives the plugin's
    distribution and package, and the host range it declares."""
    check_name(name)
    return {
        "name": name,
        "dist": f"plughost-{name}",
        "package": f"plughost_{name}",
        "requirement": host_requirement(),
    }


def check_name(name: str) -> None:
    """Refuse a namespace the host would refuse, before anything is written."""
    if not NAMESPACE_RE.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a valid plugin name: use lowercase letters and digits, starting "
            "with a letter (e.g. 'billing'); it becomes the namespace of the plugin's tools "
            "and scopes"
        )
    if len(name) > MAX_NAME:
        raise ScaffoldError(
            f"{name!r} is {len(name)} characters; use at most {MAX_NAME} so that tool names "
            "'<name>_<tool>' stay within 64 characters"
        )


def new_plugin(name: str, target: Path | None = None) -> Path:
    """Write plugin package ``plughost-<name>`` into ``target`` (default ``./plughost-<name>``).

    Returns the directory written. ``target`` must not exist yet, so nothing is overwritten.
    """
    values = template_values(name)
    target = target if target is not None else Path(values["dist"])
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another --dir or remove it first")
    rendered = {
        relative: Template(source.read_text(encoding="utf-8")).substitute(values)
        for relative, source in _templates(files("plughost") / "templates" / "plugin", ())
    }
    for relative, text in sorted(rendered.items()):
        path = target.joinpath(*(_output_part(part, name) for part in relative))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _output_part(part: str, name: str) -> str:
    """A template path part as written: ``{name}`` filled in, ``dot-x`` as ``.x``."""
    part = part.format(name=name)
    if part.startswith(HIDDEN_PREFIX):
        return "." + part.removeprefix(HIDDEN_PREFIX)
    return part


def _templates(
    folder: Traversable, prefix: tuple[str, ...]
) -> list[tuple[tuple[str, ...], Traversable]]:
    """Every template file under ``folder``, as (output path parts, source)."""
    found: list[tuple[tuple[str, ...], Traversable]] = []
    for entry in folder.iterdir():
        if entry.is_dir():
            found += _templates(entry, (*prefix, entry.name))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            found.append(((*prefix, entry.name.removesuffix(TEMPLATE_SUFFIX)), entry))
    return found
