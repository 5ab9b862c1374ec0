"""The direction of dependencies (DESIGN.md), checked from the source: a stray import
fails here, not months later as a cycle or an adapter broken by a core change."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(package: str) -> Iterator[tuple[str, int, str, bool]]:
    """(file, line, imported module, inside a function) for every import in a package."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        nested = {
            id(node)
            for fn in ast.walk(tree)
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(fn)
        }
        for node in ast.walk(tree):
            inside = id(node) in nested
            name = str(path.relative_to(ROOT))
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield name, node.lineno, alias.name, inside
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield name, node.lineno, node.module, inside


def ours(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in ("bot", "adapters", "dialogs", "knowledge") else None


def test_adapters_use_only_the_public_surface_of_bot() -> None:
    wrong = [
        f"{f}:{n} imports {m}" for f, n, m, _ in imports("adapters") if ours(m) == "bot" and m != "bot.api"
    ]
    assert wrong == []


def test_adapters_do_not_import_dialogs() -> None:
    assert [f"{f}:{n} imports {m}" for f, n, m, _ in imports("adapters") if ours(m) == "dialogs"] == []


@pytest.mark.parametrize("other", ["adapters", "dialogs"])
def test_the_core_reaches_dialogs_and_adapters_only_through_registries(other: str) -> None:
    assert [f"{f}:{n} imports {m}" for f, n, m, _ in imports("bot") if ours(m) == other] == []


def test_knowledge_imports_nothing_of_ours() -> None:
    assert [
        f"{f}:{n} imports {m}" for f, n, m, _ in imports("knowledge") if ours(m) not in (None, "knowledge")
    ] == []


def test_dialogs_hand_over_by_name_not_by_hidden_imports() -> None:
    """An import inside a function is how a cycle between dialogs hides; `Context.dispatch`
    is the way from one dialog to another."""
    hidden = [f"{f}:{n} imports {m}" for f, n, m, inside in imports("dialogs") if inside and ours(m)]
    assert hidden == []
