"""The layers of the code base: every import (lazy ones included) points down or sideways, never up, and no two
modules import each other, directly or through others. Read from the source with ``ast``, so it also covers the
top-level folders that setuptools maps into the ``sqmy`` namespace (``models/`` → ``sqmy.models`` …)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# bottom up; a layer may import itself and anything below it
LAYERS = ["sqmy.core", "sqmy.models", "sqmy.training", "sqmy.app", ("sqmy.service", "sqmy.cli")]


def _package_dirs() -> dict[str, Path]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    return {name: REPO / folder for name, folder in config["package-dir"].items()}


def _modules() -> dict[str, Path]:
    """Every module of the installed namespace, by dotted name, from the mapped folders."""
    dirs = _package_dirs()
    modules: dict[str, Path] = {}
    for package, folder in sorted(dirs.items(), key=lambda kv: -len(kv[0])):
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            modules.setdefault(name, path)
    return modules


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The sqmy modules ``name`` imports at run time (``from x import y`` counts y when y is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", getattr(block.test, "attr", "")) == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}  # annotations only: no arrow at run time
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(module: str) -> int | None:
    for level, layer in enumerate(LAYERS):
        for prefix in (layer if isinstance(layer, tuple) else (layer,)):
            if module == prefix or module.startswith(prefix + "."):
                return level
    return None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_every_module_belongs_to_a_layer():
    loose = [m for m in _graph() if m != "sqmy" and m != "sqmy.__main__" and _layer(m) is None]
    assert not loose, f"modules outside the layers {LAYERS}: {loose}"


def test_no_import_points_up():
    upward = []
    for module, targets in _graph().items():
        here = _layer(module)
        for target in targets:
            there = _layer(target)
            if here is not None and there is not None and there > here:
                upward.append(f"{module} → {target}")
            if here is not None and there == here and isinstance(LAYERS[here], tuple) \
                    and target.split(".")[:2] != module.split(".")[:2]:
                upward.append(f"{module} → {target} (sibling doors)")
    assert not upward, "imports pointing up:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The checks above would fail on a real violation (a core module importing the HTTP service)."""
    core = tmp_path / "sqmy" / "core"
    core.mkdir(parents=True)
    (tmp_path / "sqmy" / "__init__.py").write_text("")
    (core / "__init__.py").write_text("")
    (core / "bad.py").write_text("def f():\n    from sqmy.service.main import create_app\n")
    service = tmp_path / "service"
    service.mkdir()
    (service / "__init__.py").write_text("")
    (service / "main.py").write_text("import sqmy.core.bad\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "_package_dirs",
                        lambda: {"sqmy": tmp_path / "sqmy", "sqmy.service": service})
    graph = _graph()
    assert "sqmy.service.main" in graph["sqmy.core.bad"]
    assert _layer("sqmy.core.bad") < _layer("sqmy.service.main")


def test_functions_stay_short():
    """No function over 60 lines outside the BERT trainer's loop (small functions with one job)."""
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                length = node.end_lineno - node.lineno + 1
                if length > 60 and name != "sqmy.models.bert_trainer":
                    long.append(f"{name}.{node.name}: {length} lines")
    assert not long, "\n".join(long)


def test_everything_installs_under_one_namespace():
    """No top-level ``models``/``service``/``training`` in site-packages: every package is ``sqmy`` or below it,
    and every folder holding Python code is one of them."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert all(p == "sqmy" or p.startswith("sqmy.") for p in config["packages"])
    assert set(_package_dirs()) <= set(config["packages"])
    declared = set(config["packages"])
    modules = _modules()
    found = {m if path.name == "__init__.py" else m.rpartition(".")[0] for m, path in modules.items()}
    assert found <= declared, f"packages not declared in pyproject.toml: {sorted(found - declared)}"
