"""Layering: the core imports with torch alone, and no nnref module imports itself in a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nnref

CORE = ("activations", "losses", "optim", "init", "dropout", "normalization", "regularization",
        "registry", "swap", "verify")
HEAVY = ("lightning", "hydra", "omegaconf", "matplotlib", "tensorboard")
SRC = Path(nnref.__file__).parent


def test_core_modules_import_without_the_experiment_stack():
    code = ("import sys, importlib, nnref\n"
            f"for m in {CORE!r}: importlib.import_module('nnref.' + m)\n"
            f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _module_name(path: Path) -> str:
    parts = ("nnref",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """nnref modules imported by statements that run at import time (module body, and inside
    module-level if/try blocks); a ``from pkg import name`` counts as the submodule when one
    exists, else as the package."""
    out: set[str] = set()
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.If, ast.Try)):
            stack += [*node.body, *node.orelse, *getattr(node, "finalbody", ()),
                      *(s for h in getattr(node, "handlers", ()) for s in h.body)]
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in modules else node.module)
    return out


def test_no_import_cycles_among_nnref_modules():
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    modules = set(paths)
    graph = {m: _top_level_imports(ast.parse(p.read_text()), modules) - {m}
             for m, p in paths.items()}
    assert "nnref.verify.cases" in graph and "nnref.registry" in graph["nnref.verify.cases"]
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, "import cycle: " + " -> ".join(path[path.index(n):] + [n])
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_the_core_registry_never_imports_the_harness():
    tree = ast.parse((SRC / "registry.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("nnref.verify")}
