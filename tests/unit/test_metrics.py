"""The metric names the code emits and the names the templates' alarms and dashboards use are
one list: a name watched but never emitted is an alarm that can never fire or a graph that stays
empty; a name emitted but watched by nothing is either listed below with the reason, or a
metric nobody looks at.

The code's names are collected from its source: each `add_metric(name=...)` of Powertools'
Metrics, each model.metrics constant the code names (it names one only to emit it: the keeper's
embedded-metric-format lines are written from them), and the dynamic names, expanded: a run's
outcome (`Run-<outcome>`) and the error a step raised (one per PipelineError class)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import rds_xacct
from rds_xacct.model import metrics
from rds_xacct.model.errors import PipelineError
from rds_xacct.model.summary import OUTCOMES
from simulation.sam_template import BACKUP_TEMPLATE, ROOT, TEMPLATE
from tests.support.watching import Watching, metric_widgets, watching, widget_metrics

FUNCTIONS = ROOT / "functions"
METRICS_MODULE = FUNCTIONS / "rds_xacct" / "model" / "metrics.py"
NOT_NAMES = {"NAMESPACE", "SERVICE", "DIMENSION", "RUN_OUTCOME_PREFIX"}
"""model.metrics constants that are not a metric's name."""


def error_classes() -> set[str]:
    """Every PipelineError class of the code (all modules imported, so none is missed)."""
    for module in pkgutil.walk_packages(rds_xacct.__path__, "rds_xacct."):
        importlib.import_module(module.name)
    found: set[str] = set()
    pending = [PipelineError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.add(subclass.__name__)
            pending.append(subclass)
    return found


DYNAMIC: dict[tuple[str, str], Callable[[], set[str]]] = {
    ("rds_xacct/pipeline/reporting.py", "f\"{RUN_OUTCOME_PREFIX}{summary['outcome']}\""): lambda: {
        f"{metrics.RUN_OUTCOME_PREFIX}{outcome}" for outcome in OUTCOMES
    },
    ("rds_xacct/aws/observability.py", 'f"{type(error).__name__}"'): error_classes,
}
"""(module, the name's expression) → the names it takes: the metric names the code builds."""

UNWATCHED: dict[str, str] = dict.fromkeys(
    error_classes(),
    "one per error a step raised (aws/observability.py), retried ones included: the failure "
    "notification and `rds-xacct explain` name a run's error, the dashboard counts failed runs "
    "and the runs-failed alarm pages",
)
"""Names the code emits that no alarm or dashboard watches, each with the reason."""


def metric_names() -> dict[str, str]:
    """model.metrics: constant → metric name (the constants it defines, not those it imports)."""
    defined = {
        node.target.id
        for node in ast.parse(METRICS_MODULE.read_text()).body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    return {constant: getattr(metrics, constant) for constant in defined - NOT_NAMES}


def _dynamic(where: str, expression: ast.expr) -> Callable[[], set[str]] | None:
    """DYNAMIC's expansion of the name `expression` builds in module `where`, if it has one."""
    text = ast.unparse(expression)
    for (module, written), expand in DYNAMIC.items():
        if module == where and ast.unparse(ast.parse(written, mode="eval").body) == text:
            return expand
    return None


def _imports(tree: ast.Module) -> tuple[dict[str, str], set[str]]:
    """The module's names for model.metrics constants (local name → constant), and its names
    for the model.metrics module itself."""
    constants: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "rds_xacct.model.metrics":
            constants.update({a.asname or a.name: a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module == "rds_xacct.model":
            modules.update(a.asname or a.name for a in node.names if a.name == "metrics")
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name.endswith(".metrics"))
    return constants, modules


def _constant(node: ast.AST, constants: dict[str, str], modules: set[str]) -> str | None:
    """The model.metrics constant an expression names, if it names one."""
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in modules
    ):
        return node.attr
    return None


def emitted_by(path: Path) -> Iterator[tuple[str, str]]:
    """(metric name, where) for each metric the module emits; a name the test can't resolve
    comes out as ("?", what and where), which no template names."""
    where = str(path.relative_to(FUNCTIONS))
    tree = ast.parse(path.read_text())
    constants, modules = _imports(tree)
    names = metric_names()
    for node in ast.walk(tree):
        constant = _constant(node, constants, modules)
        if constant in names:
            yield names[constant], where
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != "add_metric":
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        expression = keywords.get("name") or node.args[0]
        if _constant(expression, constants, modules) is not None:
            continue
        dynamic = _dynamic(where, expression)
        if dynamic is None:
            yield "?", f"{where}:{node.lineno}: {ast.unparse(expression)}"
        else:
            yield from ((name, where) for name in dynamic())


def emitted() -> dict[str, set[str]]:
    """Every metric name the code emits → where."""
    found: dict[str, set[str]] = {}
    for path in sorted(FUNCTIONS.rglob("*.py")):
        if path != METRICS_MODULE:
            for name, where in emitted_by(path):
                found.setdefault(name, set()).add(where)
    return found


def watched(stack: Watching) -> dict[str, set[str]]:
    """Every name in the app's namespace that the stack's alarms and dashboards use → where."""
    found: dict[str, set[str]] = {}
    for logical_id, alarm in stack.alarms.items():
        stats = [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
        for metric in [alarm, *stats]:
            if metric.get("Namespace") == metrics.NAMESPACE:
                found.setdefault(metric["MetricName"], set()).add(logical_id)
    for logical_id, (_, body) in stack.dashboards.items():
        for widget in metric_widgets(body):
            for namespace, name, _ in widget_metrics(widget):
                if namespace == metrics.NAMESPACE:
                    found.setdefault(name, set()).add(logical_id)
    return found


@pytest.fixture(scope="module")
def stacks() -> list[Watching]:
    return [watching(TEMPLATE), watching(BACKUP_TEMPLATE)]


@pytest.fixture(scope="module")
def watched_names(stacks: list[Watching]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for stack in stacks:
        for name, where in watched(stack).items():
            found.setdefault(name, set()).update(f"{stack.path.name}: {w}" for w in where)
    return found


def test_every_metric_the_code_emits_is_named_by_a_constant_or_a_known_expression() -> None:
    # Given the code's metrics / When their names are resolved
    unresolved = sorted(where for where in emitted().get("?", set()))
    # Then each is a model.metrics constant, or a name built as DYNAMIC expands it
    assert not unresolved, (
        f"emit these by a model.metrics constant (or add to DYNAMIC): {unresolved}"
    )


def test_every_metric_watched_is_one_the_code_emits(watched_names: dict[str, set[str]]) -> None:
    # Given the names the templates' alarms and dashboards use, and the names the code emits
    names = emitted()
    # When / Then none is watched that nothing emits (an alarm that never fires, an empty graph)
    never_emitted = {
        name: sorted(where) for name, where in watched_names.items() if name not in names
    }
    assert not never_emitted, f"watched, never emitted: {never_emitted}"


def test_every_metric_the_code_emits_is_watched_or_listed_with_a_reason(
    watched_names: dict[str, set[str]],
) -> None:
    # Given the names the code emits
    names = emitted()
    names.pop("?", None)
    # When / Then each is watched, or listed in UNWATCHED with the reason
    unwatched = {
        name: sorted(where)
        for name, where in names.items()
        if name not in watched_names and name not in UNWATCHED
    }
    assert not unwatched, f"emitted, watched by nothing (watch it or say why not): {unwatched}"
    # And UNWATCHED lists only names the code emits and nothing watches
    assert not set(UNWATCHED) - set(names), "UNWATCHED lists names the code no longer emits"
    assert not set(UNWATCHED) & set(watched_names), "UNWATCHED lists names that are watched"
    assert all(reason.strip() for reason in UNWATCHED.values())


def test_every_name_model_metrics_defines_is_emitted() -> None:
    # Given model.metrics' names / When the code's names are collected
    names = emitted()
    # Then each one is emitted somewhere (a constant nothing emits is a dead name)
    dead = sorted(set(metric_names().values()) - set(names))
    assert not dead, f"model.metrics names nothing emits: {dead}"


def _app_metrics(stack: Watching) -> Iterator[tuple[str, Any]]:
    for logical_id, alarm in stack.alarms.items():
        if alarm.get("Namespace") == metrics.NAMESPACE:
            yield logical_id, {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    for logical_id, (_, body) in stack.dashboards.items():
        for widget in metric_widgets(body):
            for namespace, name, dimensions in widget_metrics(widget):
                if namespace == metrics.NAMESPACE:
                    yield f"{logical_id} {name}", dimensions


@pytest.mark.parametrize("path", [TEMPLATE, BACKUP_TEMPLATE], ids=lambda p: p.name)
def test_the_apps_metrics_are_watched_with_the_dimension_they_are_emitted_with(path: Path) -> None:
    # Given a stack's alarms and dashboard widgets on the app's metrics
    stack = watching(path)
    found = list(_app_metrics(stack))
    assert found
    # When / Then each names the one dimension Powertools (and the keeper) emit: a metric with
    # other dimensions is another metric to CloudWatch, and would show no data
    for where, dimensions in found:
        assert dimensions == {metrics.DIMENSION: metrics.SERVICE}, where


def test_the_functions_emit_in_the_namespace_and_service_the_templates_watch() -> None:
    # Given the main template's Powertools settings / When / Then they are model.metrics' own
    variables = watching(TEMPLATE).template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == metrics.NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == metrics.SERVICE
