"""The report reads an evaluation through its public API only; the evaluation never needs
the report.

Checked on the source (``ast``), without importing anything: the report imports from
``radinpaint.evaluation`` only names the package exports, from ``radinpaint.metrics``
only public names of public modules, and no module of the evaluation or of the metrics
imports the report outside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "radinpaint"


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``from X import ...`` statement imports from."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    path: Path, *, module_level_only: bool = False, at_runtime: bool = False
) -> list[tuple[str, list[str], int]]:
    """``(module, imported names, line)`` for every import of a file.

    ``module_level_only`` skips imports inside functions (those run on a call, not on
    import); imports in class bodies and under ``if TYPE_CHECKING:`` count as module level
    unless ``at_runtime`` also skips the latter (they never run).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if module_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if at_runtime and _is_type_checking(child):
                continue
            if isinstance(child, ast.ImportFrom):
                found.append((_absolute(path, child), [a.name for a in child.names], child.lineno))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, [], child.lineno))
            visit(child)

    visit(tree)
    return found


def _exports(package_init: Path) -> set[str]:
    tree = ast.parse(package_init.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return {ast.literal_eval(e) for e in node.value.elts}  # type: ignore[attr-defined]
    raise AssertionError(f"{package_init} has no __all__")


REPORT = _modules("report")


def test_the_checks_see_the_report_modules() -> None:
    assert {p.stem for p in REPORT} >= {"__init__", "figures", "html", "jsonout", "markdown"}
    # the resolver itself: a relative import from a report module
    figures = SRC / "report" / "figures.py"
    node = ast.parse("from ..evaluation import EvaluationResult").body[0]
    assert _absolute(figures, node) == "radinpaint.evaluation"  # type: ignore[arg-type]


@pytest.mark.parametrize("path", REPORT, ids=[p.name for p in REPORT])
def test_report_uses_public_names_of_evaluation_and_metrics(path: Path) -> None:
    public = _exports(SRC / "evaluation" / "__init__.py")
    for module, names, line in _imports(path):
        where = f"{path.name}:{line}"
        parts = module.split(".")
        if parts[:2] == ["radinpaint", "evaluation"]:
            assert module == "radinpaint.evaluation", (
                f"{where} imports from {module}: import from radinpaint.evaluation itself"
            )
            assert set(names) <= public, f"{where}: {sorted(set(names) - public)} not exported"
        if parts[:2] == ["radinpaint", "metrics"]:
            private = [p for p in parts[2:] if p.startswith("_")]
            assert not private, f"{where} imports from the private module {module}"
        if parts[:2] in (["radinpaint", "evaluation"], ["radinpaint", "metrics"]):
            hidden = [n for n in names if n.startswith("_")]
            assert not hidden, f"{where} imports private name(s) {hidden} from {module}"


@pytest.mark.parametrize("package", ["evaluation", "metrics"])
def test_evaluation_and_metrics_do_not_import_the_report(package: str) -> None:
    for path in _modules(package):
        for module, names, line in _imports(path, module_level_only=True):
            targets = [module] + [f"{module}.{n}" for n in names]
            assert not any(t == "radinpaint.report" or t.startswith("radinpaint.report.")
                           for t in targets), f"{path.name}:{line} imports the report"  # fmt: skip


def test_metrics_do_not_import_the_evaluation_on_import() -> None:
    """The evaluation imports the metrics; the reverse would be a cycle at import time."""
    for path in _modules("metrics"):
        for module, names, line in _imports(path, module_level_only=True, at_runtime=True):
            targets = [module] + [f"{module}.{n}" for n in names]
            assert not any(t.startswith("radinpaint.evaluation") for t in targets), (
                f"{path.name}:{line} imports the evaluation at module level"
            )
