"""The layout of taskboard/: no import circle among its modules, none hidden in a function."""

from __future__ import annotations

import ast
import weakref
from pathlib import Path

from celery import signals as celery_signals

import taskboard
from taskboard.worker import signals as handlers

ROOT = Path(taskboard.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ("taskboard", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in ROOT.rglob("*.py")
        if "migrations" not in path.parts and "management" not in path.parts
    }


def _imported(node: ast.AST, modules: dict[str, Path]) -> set[str]:
    """Return the tasks modules an import statement names (a package's own, not its parent's)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        found = set()
        for alias in node.names:
            # ``from taskboard import services`` imports the module tasks.services.
            name = f"{node.module}.{alias.name}"
            found.add(name if name in modules else node.module)
        return found & set(modules)
    return set()


def _graph(*, in_functions: bool) -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        nodes = ast.walk(tree) if in_functions else tree.body
        graph[name] = {
            target for node in nodes for target in _imported(node, modules) if target != name
        }
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import circle of ``graph`` (a depth-first search), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_the_edges():
    graph = _graph(in_functions=True)
    assert "taskboard.worker.tracking" in graph["taskboard.worker.signals"]
    assert "taskboard.services" in graph["taskboard.tasks"]


def test_no_import_circle_among_the_tasks_modules():
    # Function-level imports count too: one that hides an edge still closes a circle.
    assert _cycle(_graph(in_functions=True)) is None


def test_the_worker_side_does_not_import_the_services():
    # The services call the worker side (a cancel flag, the tracked header), not back.
    graph = _graph(in_functions=True)
    for name, targets in graph.items():
        if name.startswith("taskboard.worker"):
            assert not {t for t in targets if t.startswith("taskboard.services")}, name


def test_no_tasks_import_inside_a_function_but_app_ready():
    modules = _modules()
    hidden = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            in_ready = name == "taskboard.apps" and getattr(node, "name", "") == "ready"
            if isinstance(node, ast.FunctionDef) and not in_ready:
                hidden += [
                    f"{name}.{node.name}" for inner in ast.walk(node) if _imported(inner, modules)
                ]
    assert hidden == []


def test_each_tracking_handler_is_connected_once():
    signals = [value for value in vars(celery_signals).values() if hasattr(value, "receivers")]
    for handler in (handlers.on_published, handlers.on_prerun, handlers.on_revoked):
        connected = [
            signal
            for signal in signals
            for _key, receiver in signal.receivers or ()
            if (receiver() if isinstance(receiver, weakref.ReferenceType) else receiver) is handler
        ]
        assert len(connected) == 1, handler.__name__
