"""The architecture as the README states it: data flows one way (gis -> partition -> dispatch
-> maps -> api), the algorithm packages never import api/, and no module imports itself back
through others (no import cycle), read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["gis", "partition", "dispatch", "maps", "api"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """Modules of ours imported by the module at ``path`` when it loads (imports inside
    functions and under TYPE_CHECKING are left out: they cannot make a cycle at load).
    ``from pkg import sub`` of a submodule counts as importing ``pkg.sub`` only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ([node] if not isinstance(node, ast.If | ast.Try) else ast.walk(node)):
            if isinstance(sub, ast.Import):
                found |= {a.name for a in sub.names}
            elif isinstance(sub, ast.ImportFrom):
                base = sub.module or ""
                if sub.level:
                    up = package.split(".")[: len(package.split(".")) - sub.level + 1]
                    base = ".".join([*up, base] if base else up)
                subs = {f"{base}.{a.name}" for a in sub.names}
                found |= subs & modules if subs <= modules else {base} | (subs & modules)
    return {m for m in found if m.split(".")[0] in ORDER}


def _graph() -> nx.DiGraph:
    modules = {_module_name(p): p for top in ORDER for p in (ROOT / top).rglob("*.py")
               if "migrations" not in p.parts}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(path, name, set(modules)):
            if target in modules and target != name:
                graph.add_edge(name, target)
    return graph


def test_data_flows_one_way():
    graph = _graph()
    backwards = [(a, b) for a, b in graph.edges
                 if ORDER.index(b.split(".")[0]) > ORDER.index(a.split(".")[0])]
    assert backwards == []


def test_no_import_cycle():
    graph = _graph()
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], cycles[:5]
