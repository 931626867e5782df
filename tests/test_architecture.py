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


#: The host's layers, lowest first: a module may import its own layer and the layers before it.
LAYERS = [
    {"sdk", "__init__", "guardrails", "tokens", "content", "elicitation"},
    {"errors", "settings"},
    {"ops"},
    {"core"},
    {"auth"},
    {"devissuer"},
    {"policy"},
    {"edge"},
    {"console"},
    {"app", "cli", "scaffold", "testing", "__main__"},
]


def layer_of(module: str) -> int:
    """The layer of ``plughost.<part>...``; ``plughost`` itself is the SDK's face."""
    parts = module.split(".")
    part = parts[1] if len(parts) > 1 else "__init__"
    for index, members in enumerate(LAYERS):
        if part in members:
            return index
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS and the map")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, include_type_checking: bool = True) -> set[str]:
    """Every plughost module ``path`` imports: at the top, in functions, and (unless
    ``include_type_checking`` is False) under ``if TYPE_CHECKING:``. ``from plughost.core
    import mounts`` is an import of the module ``plughost.core.mounts``, not only of its
    package."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set() if include_type_checking else _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base == "plughost" or base.startswith("plughost."):
                found.update(_imported_module(base, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "plughost")
    return found


def _imported_module(base: str, name: str) -> str:
    """``name`` from ``base``: the module ``base.name`` when there is one, else ``base``."""
    candidate = PACKAGE.parent.joinpath(*base.split("."), name)
    if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
        return f"{base}.{name}"
    return base


def _type_checking_nodes(tree: ast.Module) -> set[ast.AST]:
    """The nodes under ``if TYPE_CHECKING:``: imports for the type checker, never run."""
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in {
            getattr(node.test, "id", None),
            getattr(node.test, "attr", None),
        }:
            for statement in node.body:
                found.update(ast.walk(statement))
    return found


def import_graph(*, include_type_checking: bool = True) -> dict[str, set[str]]:
    """Module -> the plughost modules it imports (``include_type_checking=False``: those run)."""
    return {
        module_name(p): imports(p, include_type_checking=include_type_checking)
        for p in PACKAGE.rglob("*.py")
    }


def test_no_import_runs_back_up_the_layers() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert not upward, "imports that run back up the layers:\n" + "\n".join(upward)


def test_no_module_imports_itself_round_a_circle() -> None:
    """Imports that run (at the top or in a function) never go round a circle; an import
    under ``TYPE_CHECKING`` is never run, so it may close one (the layer order still binds it)."""
    graph = import_graph(include_type_checking=False)
    modules = set(graph)

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges = {m: {t for t in map(resolve, targets) if t and t != m} for m, targets in graph.items()}
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_layer_check_sees_an_upward_import() -> None:
    """Without this, a broken import reader would pass the layer test on an empty graph."""
    graph = import_graph()
    assert "plughost.core.callrecord" in graph["plughost.policy.call_policy"]
    assert layer_of("plughost.edge.gate") > layer_of("plughost.policy.call_policy")


def test_the_circle_check_sees_package_level_imports_and_not_typing_only_ones() -> None:
    """``from plughost.core import mounts`` names the module; ``mounts`` imports the host only
    for its type checker."""
    assert "plughost.core.mounts" in import_graph(include_type_checking=False)["plughost.core.host"]
    assert "plughost.core.host" in import_graph()["plughost.core.mounts"]
    assert (
        "plughost.core.host"
        not in import_graph(include_type_checking=False)["plughost.core.mounts"]
    )
