"""The shape of atoll's own source: no import cycles, no private names borrowed.

The layer rules are import-linter's contracts (``pyproject.toml``); these two rules are not
of the kind it checks. Imports are read from the source, those under ``TYPE_CHECKING`` and
inside functions included: a cycle is a cycle however lazily it is closed.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"


def modules() -> dict[str, ast.Module]:
    """Every module of atoll, by its dotted name, parsed."""
    found: dict[str, ast.Module] = {}
    for path in sorted((SOURCE / "atoll").rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), filename=str(path))
    return found


def imports(tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of atoll that ``tree`` imports: a name that is a module counts as one."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module in known:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= submodules & known or {node.module}
    return found


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of imports (its modules, the first again at the end), or None."""
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as error:
        found: list[str] = error.args[1]
        return found
    return None


def test_no_two_modules_import_each_other_even_lazily():
    trees = modules()
    known = set(trees)
    edges = {name: imports(tree, known) - {name} for name, tree in trees.items()}
    assert cycle(edges) is None


def test_no_module_imports_another_s_private_name():
    borrowed = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("atoll"):
                private = [a.name for a in node.names if a.name[:1] == "_" and a.name[1:2] != "_"]
                borrowed += [f"{name} imports {node.module}.{p}" for p in private]
    assert borrowed == []


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert sorted(set(cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) or [])) == [
        "a",
        "b",
        "c",
    ]
    assert cycle({"a": {"b"}, "b": {"c"}, "d": {"a"}}) is None
