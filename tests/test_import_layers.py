"""The package's layers, read from its source: what may import what.

Every ``import`` / ``from ... import`` in ``python/faceid`` counts, at any depth (function-level, lazy imports
included), and so does a string constant that names a faceid module (``importlib.import_module`` targets such as
``faceid.data``'s lazy exports). The rules:

* the library (everything but ``faceid.cli``, ``faceid.bench`` and ``faceid.__main__``) never imports ``cli``,
  ``bench`` or ``train``; ``train`` is an application of the library, imported only by ``cli`` and ``bench``;
* ``data`` never imports ``eval`` (evaluation reads data, not the other way round);
* no cycle between the top-level parts of the package (``data``, ``eval``, ``zoo``, ..., ``embeddings``), and no
  two modules that import each other.

Each failure names the importing module and line.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "faceid"
APPLICATIONS = {"cli", "bench", "__main__"}  # may import anything in the package
APPLICATION_ONLY = {"cli", "bench", "train"}  # what the library never imports

# Known violations, each with the change that removes it. Keep this empty; an entry needs a TODO and an owner.
ALLOWED: set[tuple[str, str]] = set()  # (importing module, imported module)


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, e.g. "faceid.data.synthetic_faces"
    target: str  # imported module, e.g. "faceid.eval.metrics"
    line: int

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The longest known module ``name`` is or lies in (``faceid.eval.metrics.l2_normalize`` -> the module)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            package = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        return [f"{base}.{alias.name}" for alias in node.names] or [base]  # "from faceid import zoo" -> faceid.zoo
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("faceid."):
        return [node.value] if node.value in MODULES else []
    return []


def _edges() -> list[Edge]:
    edges = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for name in _imported_names(node, module, path.name == "__init__.py"):
                target = _resolve(name)
                if target is not None and target != module:
                    edges.append(Edge(module, target, getattr(node, "lineno", 0)))
    return list(dict.fromkeys(edges))  # one edge per (module, target, line)


EDGES = _edges()


def _part(module: str) -> str:
    """The top-level part a module belongs to: ``faceid.zoo.blazeface`` -> ``zoo``; the root package -> ``""``."""
    return module.split(".")[1] if "." in module else ""


def _report(bad: list[Edge]) -> str:
    return "\n".join(str(edge) for edge in sorted(bad, key=lambda e: (e.source, e.line)))


def _names_in(source: str, module: str = "faceid.data.loader") -> list[str]:
    return [name for node in ast.walk(ast.parse(source)) for name in _imported_names(node, module, False)]


def test_the_reader_sees_every_kind_of_import() -> None:
    source = (
        "import faceid.eval\n"
        "from faceid import zoo\n"
        "def f():\n"
        "    if True:\n"
        "        from faceid.train.engine import train\n"
        "LAZY = {'x': 'faceid.data.dataset', 'doc': 'faceid.data is cheap'}\n"
    )
    assert _names_in(source) == ["faceid.eval", "faceid.zoo", "faceid.train.engine.train", "faceid.data.dataset"]
    assert _resolve("faceid.train.engine.train") == "faceid.train.engine"
    assert MODULES and all(_resolve(e.target) == e.target for e in EDGES)
    lazy = [e for e in EDGES if e.source == "faceid.eval.verification" and e.target == "faceid.data.images"]
    assert lazy, "the function-level import of faceid.data.images in faceid.eval.verification was not found"


def test_the_library_never_imports_the_applications() -> None:
    bad = [
        edge
        for edge in EDGES
        if _part(edge.source) not in APPLICATIONS
        and _part(edge.target) in APPLICATION_ONLY
        and _part(edge.target) != _part(edge.source)
        and (edge.source, edge.target) not in ALLOWED
    ]
    assert not bad, "the library imports cli/bench/train:\n" + _report(bad)


def test_data_never_imports_eval() -> None:
    bad = [edge for edge in EDGES if _part(edge.source) == "data" and _part(edge.target) == "eval"]
    assert not bad, "data imports eval (move what both need below them):\n" + _report(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_on_a_known_graph() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_cycle_between_the_parts_of_the_package() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    witnesses: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for edge in EDGES:
        source, target = _part(edge.source), _part(edge.target)
        if source and target and source != target:  # the root package is everyone's parent: not a layer
            graph[source].add(target)
            witnesses[(source, target)].append(edge)
    problems = []
    for component in _cycles(graph):
        members = set(component)
        links = [e for (s, t), edges in witnesses.items() if s in members and t in members for e in edges]
        problems.append(f"cycle between {', '.join(component)}:\n{_report(links)}")
    assert not problems, "\n\n".join(problems)


def test_no_two_modules_import_each_other() -> None:
    pairs = {(e.source, e.target): e for e in EDGES}
    # A package's __init__ re-exporting its own submodules is how packages work, not a cycle.
    mutual = [
        f"{edge}\n{pairs[(edge.target, edge.source)]}"
        for (source, target), edge in sorted(pairs.items())
        if source < target
        and (target, source) in pairs
        and not target.startswith(source + ".")
        and not source.startswith(target + ".")
    ]
    assert not mutual, "modules importing each other:\n" + "\n\n".join(mutual)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from . import x", "faceid.data.x"),
        ("from .. import eval", "faceid.eval"),
        ("from ..eval.metrics import l2_normalize", "faceid.eval.metrics.l2_normalize"),
    ],
)
def test_relative_imports_resolve(source: str, expected: str) -> None:
    node = ast.parse(source).body[0]
    assert _imported_names(node, "faceid.data.loader", is_package=False) == [expected]
