"""The dependency direction serve → model ← training, and no import cycle in serve or model, checked on the source."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "model": {"torch", "torchvision", "ultralytics", "training", "serve", "fastapi", "sqlalchemy", "cv2"},
    "serve": {"torch", "torchvision", "ultralytics", "training"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_model_and_serve_never_import_training_or_torch() -> None:
    offenders = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            bad = imported_roots(path) & forbidden
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


def test_the_check_catches_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import torch.nn\nfrom training.cli import main\n")
    assert imported_roots(bad) >= {"torch", "training"}


def _module_names(root: Path, packages: Sequence[str]) -> dict[str, Path]:
    names = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


class _Imports(ast.NodeVisitor):
    """The modules one module imports when it runs: at the top and inside functions, not under TYPE_CHECKING."""

    def __init__(self, name: str, is_package: bool) -> None:
        self.package = name if is_package else name.rpartition(".")[0]
        self.found: list[tuple[str, str | None]] = []  # (module, a name imported from it)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.extend((alias.name, None) for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        self.found.extend((module, alias.name) for alias in node.names)


def import_graph(root: Path, packages: Sequence[str]) -> dict[str, set[str]]:
    """Each module of ``packages`` and the modules of ``packages`` it imports."""
    names = _module_names(root, packages)
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        visitor = _Imports(name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        targets = set()
        for module, item in visitor.found:
            if item is not None and f"{module}.{item}" in names:  # from package import submodule
                targets.add(f"{module}.{item}")
                continue
            while module and module not in names:
                module = module.rpartition(".")[0]
            if module:
                targets.add(module)
        graph[name] = targets - {name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycle_in_serve_or_model() -> None:
    graph = import_graph(ROOT, ["serve", "model"])
    assert "serve.photos.local" in graph["serve.photos.factory"]  # the graph sees the packages' modules
    assert import_cycles(graph) == []


def test_the_cycle_check_catches_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def later():\n    from . import c\n")  # a lazy import runs too
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "e.py").write_text("from pkg.d import something\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert graph["pkg.d"] == set() and graph["pkg.e"] == {"pkg.d"}  # TYPE_CHECKING imports never run


# serve's parts, each importing only parts listed after it: requests come in at the top, rows and photos are
# at the bottom (cli and app assemble everything; errors and settings import nothing of serve).
SERVE_LAYERS = (
    "serve.app", "serve.cli", "serve.routes", "serve.deps", "serve.claims", "serve.jobs", "serve.http",
    "serve.models", "serve.migrations", "serve.db", "serve.photos", "serve.settings", "serve.errors",
)


def layer_violations(graph: dict[str, set[str]], layers: Sequence[str]) -> list[str]:
    """Modules in no layer, and imports from a layer to one listed before it."""

    def layer(module: str) -> int | None:
        return next((i for i, part in enumerate(layers) if module == part or module.startswith(part + ".")), None)

    found = [f"{module} is in no layer" for module in graph if module != "serve" and layer(module) is None]
    for module, others in graph.items():
        here = layer(module)
        for other in others:
            there = layer(other)
            if here is not None and there is not None and there < here:
                found.append(f"{module} imports {other}")
    return sorted(found)


def test_serve_parts_import_only_the_parts_below_them() -> None:
    graph = import_graph(ROOT, ["serve"])
    assert layer_violations(graph, SERVE_LAYERS) == []
    back = {"serve.db.rows": {"serve.http.schemas"}, "serve.extra": set()}
    assert layer_violations(back, SERVE_LAYERS) == [
        "serve.db.rows imports serve.http.schemas",
        "serve.extra is in no layer",
    ]
