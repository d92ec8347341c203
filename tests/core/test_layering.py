"""core/ is what a researcher imports in a notebook: it must never pull in Qt."""

from __future__ import annotations

import subprocess
import sys


def test_core_does_not_import_qt():
    code = (
        "import sys, pkgutil, importlib, waifu_studio.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'waifu_studio.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "state = importlib.import_module('waifu_studio.state')\n"
        "for m in pkgutil.walk_packages(state.__path__, 'waifu_studio.state.'):\n"
        "    importlib.import_module(m.name)\n"
        "import waifu_studio.cli\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"core, state or cli imported Qt: {result.stdout} {result.stderr[-2000:]}"


def _module_level_imports(path, module: str, is_package: bool) -> set[str]:
    """Core modules that ``module`` imports anywhere (lazy imports in functions too; not TYPE_CHECKING blocks)."""
    import ast

    tree = ast.parse(path.read_text())
    package = module if is_package else module.rsplit(".", 1)[0]
    found: set[str] = set()
    type_only = {id(n) for node in ast.walk(tree)
                 if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and id(node) not in type_only:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("waifu_studio.core"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import submodule`
    return found


def test_core_has_no_import_cycles():
    """Modules of core import each other one way only (the data flow), so each can be read and tested alone.

    Lazy imports inside functions count too: they hide a cycle from the interpreter, not from a reader.
    """
    from pathlib import Path

    import waifu_studio.core as core

    root = Path(core.__path__[0])
    modules = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    graph = {name: {t for t in _module_level_imports(path, name, pkg) if t in modules and t != name}
             for name, (path, pkg) in modules.items()}
    # A package's own __init__ importing its submodules is how packages work, not a cycle; an edge from a
    # submodule up to its own package is the import system loading the parent first.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}

    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "import cycles in core: " + "; ".join(" -> ".join(c) for c in cycles)
