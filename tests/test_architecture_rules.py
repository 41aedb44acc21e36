"""Code-structure rules (STYLE 8.1): imports go one way between rooms; public modules define __all__."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "tnx_timeloop"

# A room may import rooms of lower or equal rank (data flows front-end -> problem -> model -> search -> study).
RANK = {
    "errors": 0, "cache": 0, "_external": 0, "__init__": 9, "library": 3,
    "spec": 1, "frontends": 2, "energy": 2, "testing": 2,
    "model": 3, "backends": 4, "mapper": 4,
    "search": 5, "sim": 5, "study": 6, "api": 7, "cli": 8,
}
FRONTEND_ALLOWED = {"errors", "spec", "frontends"}


def _room(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tnx_timeloop."):
            out.append((node.module.split(".")[1], node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module == "tnx_timeloop":
            for alias in node.names:
                out.append((alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tnx_timeloop."):
                    out.append((alias.name.split(".")[1], node.lineno))
    return out


MODULES = sorted(p for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_go_one_way(path):
    room = _room(path)
    if room not in RANK:
        pytest.fail(f"{path}: room {room!r} has no rank in this test; add it")
    for target, line in _imports(path):
        if target in ("__version__",):
            continue
        assert target in RANK, f"{path}:{line} imports unknown room {target!r}"
        if room == "frontends":
            assert target in FRONTEND_ALLOWED, f"{path}:{line}: frontends may import only {sorted(FRONTEND_ALLOWED)}, not {target}"
        assert RANK[target] <= RANK[room], f"{path}:{line}: {room} (rank {RANK[room]}) must not import {target} (rank {RANK[target]})"


@pytest.mark.parametrize("path", [p for p in MODULES if not p.name.startswith("_") or p.name == "__init__.py"],
                         ids=lambda p: str(p.relative_to(PKG)))
def test_public_modules_define_all(path):
    tree = ast.parse(path.read_text())
    names = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AugAssign))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    if path.name == "__init__.py" and len(tree.body) <= 2:
        return  # a docstring-only package marker
    assert "__all__" in names, f"{path} defines no __all__"
