"""The layout rules, read from the source: layers and their arrows (every import, deferred ones
included), file and function sizes.

``hipart_cli -> pipelines -> hipart``; inside ``pipelines`` the role packages are ordered and a
package imports only itself and those below it; no module imports itself back through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVELS = ("hipart", "pipelines", "hipart_cli")  # each may import only those before it
FACADES = {"hipart": ("pipelines.models.api",)}  # the package's own name re-exports the Python API
ROLES = ("core", "data", "models", "evaluate", "train", "bench", "report", "recipes")  # bottom to top


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for top in TOP_LEVELS for p in (ROOT / top).rglob("*.py")}


def resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module an import names (``pkg.mod.symbol`` -> ``pkg.mod``); None for other packages."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{name}: relative import (use absolute imports)")
        else:
            continue
        found |= {m for t in targets if (m := resolve(t, modules)) and m != name}
    return found


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def rank(module: str) -> tuple[int, int]:
    parts = module.split(".")
    top = TOP_LEVELS.index(parts[0])
    role = ROLES.index(parts[1]) if parts[0] == "pipelines" and len(parts) > 1 and parts[1] in ROLES else -1
    return top, role


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()))


def test_no_upward_imports():
    upward = [
        f"{src} imports {dst}"
        for src, dsts in graph().items()
        for dst in dsts
        if rank(dst) > rank(src) and dst not in FACADES.get(src, ())
    ]
    assert not upward, "\n".join(upward)


def test_pipelines_top_level_holds_only_role_packages():
    stray = sorted(p.name for p in (ROOT / "pipelines").iterdir() if p.suffix == ".py" and p.name != "__init__.py")
    packages = sorted(p.name for p in (ROOT / "pipelines").iterdir() if (p / "__init__.py").exists())
    assert not stray and packages == sorted(ROLES)


def test_the_checks_catch_a_cycle_and_an_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert rank("pipelines.train.trainer") > rank("pipelines.evaluate.tables") > rank("pipelines.core.errors")
    assert rank("hipart_cli.main") > rank("pipelines.recipes.demo") > rank("hipart.layers")


@pytest.mark.parametrize("top", TOP_LEVELS)
def test_no_module_over_400_lines(top):
    long = [
        f"{p.relative_to(ROOT)}: {n}"
        for p in (ROOT / top).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    ]
    assert not long, long


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body after its docstring: a signature of many options is not a long function."""
    body = node.body[1:] if ast.get_docstring(node) is not None and len(node.body) > 1 else node.body
    return node.end_lineno - body[0].lineno + 1


def test_functions_over_60_lines_say_why():
    long = []
    for top in TOP_LEVELS:
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > 60:
                    if "Long:" not in (ast.get_docstring(node) or ""):
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long, long
