"""The package's shape, read from its source: no import cycle (the module-level import graph
is a DAG), only the arrows docs/architecture.md draws between its parts, and no module over
450 lines.

Imports inside functions (lazy, on first use) do not run when a module loads, so only the
module-level ones count — including those under ``if TYPE_CHECKING:``: two modules whose types
name each other are one job in two places.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import automatosx

PACKAGE = Path(automatosx.__file__).parent
ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
MAX_LINES = 450
OVERSIZED: dict[str, str] = {
    # Temporary: each is being split by its owner (the lead empties this list).
    "schemas.py": "types, a validation-bypassing constructor and config models; split after "
    "the budget/cache fields land (others add fields to it now)",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")
                    base = base if is_package else base[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        targets = _top_level_imports(tree, name, path.name == "__init__.py")
        edges = {t for t in targets if t in modules and t != name}
        # importing a.b.c runs a/__init__ and a/b/__init__ first, unless the importer is
        # inside that package (its __init__ is then already running or done)
        for target in list(edges):
            parts = target.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent in modules and not name.startswith(parent + "."):
                    edges.add(parent)
        edges = {e for e in edges if not name.startswith(e + ".")}
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return [*stack[stack.index(nxt) :], nxt]
            if colour[nxt] == WHITE and (cycle := dfs(nxt)) is not None:
                return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE and (cycle := dfs(node)) is not None:
            return cycle
    return None


def test_find_cycle_reports_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "automatosx.router" in graph
    assert "automatosx._routing.run" in graph["automatosx._routing.stream"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def part_of(module: str) -> str:
    """``automatosx.x`` -> ``x``; a module of a package ``automatosx.p.m`` -> ``p/``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "automatosx"
    return parts[1] + "/" if (PACKAGE / parts[1]).is_dir() else parts[1]


def drawn_arrows() -> dict[str, set[str]]:
    """The ``arrows`` block of docs/architecture.md."""
    block = re.search(r"```arrows\n(.*?)```", ARCHITECTURE.read_text(), re.S)
    assert block is not None, "docs/architecture.md has no ```arrows block"
    arrows: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        if line.strip():
            source, _, targets = line.partition("->")
            arrows[source.strip()] = {t.strip() for t in targets.split(",") if t.strip()}
    return arrows


def test_imports_follow_the_arrows_drawn_in_the_architecture() -> None:
    arrows = drawn_arrows()
    graph = import_graph()
    undrawn = sorted({part_of(m) for m in graph} - set(arrows))
    assert undrawn == [], f"parts missing from the arrows of docs/architecture.md: {undrawn}"
    stray = sorted(
        f"{src} -> {dst}"
        for src, targets in graph.items()
        for dst in targets
        if part_of(src) != part_of(dst) and part_of(dst) not in arrows[part_of(src)]
    )
    assert stray == [], "imports not drawn in docs/architecture.md: " + "; ".join(stray)


def test_a_stray_arrow_is_caught() -> None:
    assert part_of("automatosx._routing.run") == "_routing/"
    assert part_of("automatosx.errors") == "errors"
    assert "router" not in drawn_arrows()["_routing/"]  # nothing below the router imports it


def test_no_module_is_over_450_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    over = {name: n for name, n in sizes.items() if n > MAX_LINES and name not in OVERSIZED}
    assert over == {}, f"split these by job (no module over {MAX_LINES} lines): {over}"
    fixed = sorted(name for name in OVERSIZED if sizes.get(name, 0) <= MAX_LINES)
    assert fixed == [], f"no longer oversized, take them off OVERSIZED: {fixed}"
