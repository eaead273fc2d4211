"""Plan rules of the `load:` section, beside its model (registered with `@plan_rule`).

What pydantic cannot see on its own: a load case counts as performance, names are unique,
SLOs name operations and scenarios the load has, the shape stays inside the plan's hard caps,
`saved.X` is saved before it is used, and `as:` names an identity of the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crmqa.core.errors import PlanIssue
from crmqa.load.model import (
    LATENCY_KEYS,
    ConstantShape,
    LoadSpec,
    StagedShape,
    StepRampShape,
    request_name,
    seconds,
)
from crmqa.plan.issues import clip, did_you_mean
from crmqa.plan.rules import RuleContext, plan_rule
from crmqa.plan.sources import CaseSource, as_list
from crmqa.plan.templating import analyse_template, has_template

_KEY = "load"


def _loads(context: RuleContext) -> Iterator[tuple[CaseSource, LoadSpec]]:
    """Cases whose `load:` validated, with it (a broken one is already reported)."""
    for case in context.cases:
        spec = getattr(case.model, _KEY, None) if case.model is not None else None
        if isinstance(spec, LoadSpec):
            yield case, spec


@plan_rule
def load_is_performance(context: RuleContext) -> Iterator[PlanIssue]:
    """A case with `load:` is a performance case: it counts in the performance pass rate."""
    for case in context.cases:
        if _KEY not in case.raw or case.category == "performance":
            continue
        written = "category" in case.raw
        yield case.issue(
            f"a case with `load:` is a performance case, not {case.category}: set "
            "category: performance" + ("" if written else " (its suite's default category "
                                        "applies otherwise)"),
            *(("category",) if written else (_KEY,)), at_key=not written)


@plan_rule
def load_names_unique(context: RuleContext) -> Iterator[PlanIssue]:
    """Scenario names are unique in a load; task names are unique in a scenario."""
    for case, spec in _loads(context):
        scenarios: set[str] = set()
        for index, scenario in enumerate(spec.scenarios):
            if scenario.name in scenarios:
                yield case.issue(f"scenario '{clip(scenario.name)}' appears twice in this load",
                                 _KEY, "scenarios", index, "name")
            scenarios.add(scenario.name)
            tasks: set[str] = set()
            for t_index, task in enumerate(scenario.tasks):
                if task.name in tasks:
                    yield case.issue(f"task '{clip(task.name)}' appears twice in scenario "
                                     f"'{clip(scenario.name)}'",
                                     _KEY, "scenarios", index, "tasks", t_index, "name")
                tasks.add(task.name)


@plan_rule
def load_slo_scopes(context: RuleContext) -> Iterator[PlanIssue]:
    """An SLO names an operation and a scenario of its load, and thresholds that fit it."""
    for case, spec in _loads(context):
        names = _request_names(spec)
        scenarios = [scenario.name for scenario in spec.scenarios]
        for index, slo in enumerate(spec.slo):
            where = (_KEY, "slo", index)
            if slo.operation is not None and slo.operation not in names:
                yield case.issue(
                    f"no step of this load makes '{clip(slo.operation)}' requests (it makes "
                    f"{', '.join(names) or 'none'})", *where, "operation",
                    suggestion=did_you_mean(slo.operation, names))
            if slo.scenario is not None and slo.scenario not in scenarios:
                yield case.issue(
                    f"this load has no scenario '{clip(slo.scenario)}' (its scenarios: "
                    f"{', '.join(scenarios)})", *where, "scenario",
                    suggestion=did_you_mean(slo.scenario, scenarios))
            if slo.users_held is not None and (slo.operation or slo.scenario):
                yield case.issue("users_held is judged over the whole load: write it in an "
                                 "SLO without operation or scenario", *where, "users_held")
            if slo.abort_on_fail and not any(
                    getattr(slo, key) is not None for key in (*LATENCY_KEYS, "error_rate_pct")):
                yield case.issue("abort_on_fail needs a response-time or error-rate threshold "
                                 "(throughput and users held are judged at the end)",
                                 *where, "abort_on_fail")


def _request_names(spec: LoadSpec) -> list[str]:
    names: dict[str, None] = {}
    for scenario in spec.scenarios:
        for step in [*scenario.setup, *(s for task in scenario.tasks for s in task.steps)]:
            names[request_name(step)] = None
    return list(names)


@plan_rule
def load_within_limits(context: RuleContext) -> Iterator[PlanIssue]:
    """The shape stays inside `limits` (users, duration): the plan's hard caps hold."""
    for case, spec in _loads(context):
        limits = spec.limits
        shape = spec.shape
        peak = spec.peak_users()
        if peak > limits.max_users:
            yield case.issue(
                f"the shape asks for {peak} users, above limits.max_users ({limits.max_users}): "
                "raise the cap only if this CRM may take it", *_users_path(shape))
        duration = spec.planned_duration_s()
        if duration > limits.max_duration_s:
            yield case.issue(
                f"the load lasts {seconds(duration)} (recovery watch included), longer than "
                f"limits.max_duration_s ({seconds(limits.max_duration_s)})", _KEY, "shape")
        if isinstance(shape, StepRampShape) and shape.required_users is not None and (
                shape.required_users > shape.max_users):
            yield case.issue(f"required_users ({shape.required_users}) is above max_users "
                             f"({shape.max_users}): the search could never find it",
                             _KEY, "shape", "required_users")
        for index, slo in enumerate(spec.slo):
            if slo.users_held is not None and slo.users_held > peak:
                yield case.issue(f"users_held ({slo.users_held}) is more than the shape ever "
                                 f"runs ({peak} users)", _KEY, "slo", index, "users_held")
        if spec.recovery is not None and spec.recovery.users > limits.max_users:
            yield case.issue(f"recovery.users ({spec.recovery.users}) is above "
                             f"limits.max_users ({limits.max_users})", _KEY, "recovery", "users")


def _users_path(shape: Any) -> tuple[str | int, ...]:
    if isinstance(shape, ConstantShape):
        return (_KEY, "shape", "users")
    if isinstance(shape, StagedShape):
        peak = max(range(len(shape.stages)), key=lambda i: shape.stages[i].users)
        return (_KEY, "shape", "stages", peak, "users")
    return (_KEY, "shape", "max_users")


def _saved_names(step: Any) -> set[str]:
    save = step.get("save") if isinstance(step, dict) else None
    return {str(key) for key in save} if isinstance(save, dict) else set()


@plan_rule
def load_saved_before_use(context: RuleContext) -> Iterator[PlanIssue]:
    """In a load, `saved.X` is saved by an earlier step of the same task, or by its
    scenario's setup (which runs first, once per virtual user)."""
    for case in context.cases:
        load = case.raw.get(_KEY)
        if not isinstance(load, dict) or not any("saved" in t for _, t in case.templates):
            continue
        by_step: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], str]]] = {}
        depth = len(case.path)
        for path, text in case.templates:
            inner = path[depth:]
            if inner[:2] == (_KEY, "scenarios") and len(inner) > 4:
                step_key = inner[:5] if inner[3] == "setup" else inner[:7]
                by_step.setdefault(step_key, []).append((path, text))
        for s_index, scenario in enumerate(as_list(load.get("scenarios"))):
            if not isinstance(scenario, dict):
                continue
            available: set[str] = set()
            flows: list[tuple[tuple[str | int, ...], list[Any]]] = [
                ((_KEY, "scenarios", s_index, "setup"), as_list(scenario.get("setup")))]
            for t_index, task in enumerate(as_list(scenario.get("tasks"))):
                steps = as_list(task.get("steps")) if isinstance(task, dict) else []
                flows.append(((_KEY, "scenarios", s_index, "tasks", t_index, "steps"), steps))
            from_setup: set[str] = set()
            for number, (prefix, steps) in enumerate(flows):
                available = set(from_setup)
                for index, step in enumerate(steps):
                    own = _saved_names(step)
                    for path, text in by_step.get((*prefix, index), ()):
                        issue = _unsaved(case, path, text, available | own)
                        if issue is not None:
                            yield issue
                            break
                    available |= own
                if number == 0:
                    from_setup = set(available)


def _unsaved(case: CaseSource, path: tuple[Any, ...], text: str,
             available: set[str]) -> PlanIssue | None:
    for name, attribute in analyse_template(text).references:
        if name == "saved" and attribute is not None and attribute not in available:
            return case.positions.issue(
                f"saved.{attribute} is not saved before this step: in a load, a task sees what "
                "its earlier steps and its scenario's setup saved", path,
                suggestion=did_you_mean(attribute, sorted(available)))
    return None


@plan_rule
def load_identities_known(context: RuleContext) -> Iterator[PlanIssue]:
    """`as:` in a load (scenario or step) names an identity of the plan's targets."""
    identities = context.identities
    if identities is None:
        return
    known = [*identities, "anonymous"]
    for case, spec in _loads(context):
        if case.suite_path is not None:
            continue  # a portable suite may act as roles a target lacks: not applicable then
        uses: list[tuple[tuple[str | int, ...], str]] = []
        for s_index, scenario in enumerate(spec.scenarios):
            base: tuple[str | int, ...] = (_KEY, "scenarios", s_index)
            if scenario.as_:
                uses.append(((*base, "as"), scenario.as_))
            for index, step in enumerate(scenario.setup):
                if step.as_:
                    uses.append(((*base, "setup", index, "as"), step.as_))
            for t_index, task in enumerate(scenario.tasks):
                for index, step in enumerate(task.steps):
                    if step.as_:
                        uses.append(((*base, "tasks", t_index, "steps", index, "as"), step.as_))
        for path, name in uses:
            if name not in known and not has_template(name):
                yield case.issue(
                    f"no target has an identity '{clip(name)}' (identities: "
                    f"{', '.join(identities) or 'none'})", *path,
                    suggestion=did_you_mean(name, known))
