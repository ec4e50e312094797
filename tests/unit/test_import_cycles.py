"""No two modules of riskdesk import each other, directly or round a longer circle.

Every ``import`` and ``from ... import`` is counted, including those inside functions: a
function-level import hides a circle from Python's loader but not from the reader, and it is
still a circle. Read with ``ast``, nothing is imported. A name imported from a package
(``from riskdesk.alerts import service``) counts as its module; a plain name counts as the
package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Circles that were there before this test and are not yet broken. Nothing may join this list;
# a circle fixed must leave it (the test says so). The last one (db.py calling the audit trail
# after commit, the audit models importing db's Base) went when the trail's hooks moved to
# riskdesk.bootstrap.
KNOWN: set[frozenset[str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in (SRC / "riskdesk").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the riskdesk modules it imports anywhere in its text."""
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, (path, package) in modules.items():
        here = module if package else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                names = [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                target = owner(name) if name.startswith("riskdesk") else None
                if target and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(frozenset(group))
    return found


GRAPH = import_graph()


def _reaches(start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def test_the_graph_sees_function_level_imports() -> None:
    # monitoring.service imports scoring.service inside functions only.
    assert "riskdesk.scoring.service" in GRAPH["riskdesk.monitoring.service"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_no_module_imports_itself_round_a_circle() -> None:
    found = set(cycles(GRAPH))
    new = [sorted(c) for c in found - KNOWN]
    assert new == [], f"import circles: {new}"
    assert found >= KNOWN, f"a known circle is gone; remove it from KNOWN: {KNOWN - found}"


def _imports_from(package: str, target: str) -> set[tuple[str, str]]:
    """(module of ``package``, module of ``target`` it imports), function-level ones included."""
    modules = [m for m in GRAPH if m == package or m.startswith(f"{package}.")]
    assert modules, package
    return {(m, t) for m in modules for t in GRAPH[m] if t == target or t.startswith(f"{target}.")}


def _reaching(package: str, target: str) -> set[tuple[str, str]]:
    """(module of ``package``, module of ``target``) pairs the first reaches by any path."""
    inside = [m for m in GRAPH if m == package or m.startswith(f"{package}.")]
    goals = [m for m in GRAPH if m == target or m.startswith(f"{target}.")]
    return {(m, g) for m in inside for g in goals if _reaches(m, g)}


def test_monitoring_never_imports_alerts() -> None:
    # CONVENTIONS.md: alerts stand a floor above monitoring, and imports only run down.
    # Monitoring finds; alerts raise what it found.
    assert _imports_from("riskdesk.monitoring", "riskdesk.alerts") == set()
    # Nor round a detour through another domain.
    assert _reaching("riskdesk.monitoring", "riskdesk.alerts") == set()


def test_neither_monitoring_nor_alerts_imports_the_complaint_desk() -> None:
    # The complaint desk calls alerts (evaluate, product alerts); it is not below them.
    for package in ("riskdesk.monitoring", "riskdesk.alerts"):
        assert _imports_from(package, "riskdesk.complaints") == set()
        assert _reaching(package, "riskdesk.complaints") == set()


def test_the_engine_module_imports_no_domain() -> None:
    # CONVENTIONS.md: db stands with models, kit and config, below every domain; what the
    # audit trail adds to its sessions is installed from above (riskdesk.bootstrap).
    assert GRAPH["riskdesk.db"] == set()
    assert not _reaches("riskdesk.db", "riskdesk.audit.trail")
    assert not _reaches("riskdesk.models", "riskdesk.audit.trail")


def test_the_circles_once_broken_stay_broken() -> None:
    for a, b in [
        ("riskdesk.monitoring.service", "riskdesk.alerts.playbooks"),
        ("riskdesk.monitoring.service", "riskdesk.alerts.service"),
        ("riskdesk.alerts.service", "riskdesk.alerts.playbooks"),
        ("riskdesk.scoring.service", "riskdesk.scoring.registry"),
    ]:
        assert not (_reaches(a, b) and _reaches(b, a)), f"{a} and {b} import each other"
    assert "riskdesk.monitoring.playbooks" not in GRAPH  # moved to alerts
