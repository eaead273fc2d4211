"""Rules about templates: syntax, the names they read, saved values, and parameters.

Each template text is parsed once (`analyse_template` caches by text); rules read a case's
templated strings from `CaseSource.templates`, walked once per case.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

from crmqa.core.errors import PlanIssue
from crmqa.plan.issues import clip, did_you_mean
from crmqa.plan.rules import RuleContext, plan_rule
from crmqa.plan.sources import PHASES, CaseSource, template_strings
from crmqa.plan.templating import RESERVED_NAMES, analyse_template, make_faker
from crmqa.plan.yaml_source import DataPath, PositionMap

# Names Jinja itself provides in every template.
JINJA_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace", "loop"})


@lru_cache(maxsize=1)
def _faker_names() -> frozenset[str]:
    """Attribute names a template may call on `fake` (providers and CRM additions)."""
    fake = make_faker("en_US", 0, "check")
    names = {name for name in dir(fake) if not name.startswith("_")}
    names.update(name for name in dir(fake.factories[0]) if not name.startswith("_"))
    return frozenset(names)


def _reference_issue(
    name: str, attribute: str | None, allowed: frozenset[str], plan_vars: list[str] | None
) -> tuple[str, str | None] | None:
    if name not in allowed:
        return (
            f"unknown template variable '{clip(name)}'; templates can use "
            f"{', '.join(RESERVED_NAMES)} and the case's parameters",
            did_you_mean(name, sorted(allowed - JINJA_GLOBALS)),
        )
    if name == "fake" and attribute is not None and attribute not in _faker_names():
        return (
            f"fake.{attribute} is not a Faker provider",
            did_you_mean(attribute, sorted(_faker_names())),
        )
    if (
        name == "vars"
        and attribute is not None
        and plan_vars is not None
        and attribute not in plan_vars
    ):
        return (f"vars.{attribute} is not defined in data.vars", did_you_mean(attribute, plan_vars))
    return None


def _template_issues(
    templates: Iterable[tuple[DataPath, str]],
    positions: PositionMap,
    allowed: frozenset[str],
    plan_vars: list[str] | None,
) -> Iterator[PlanIssue]:
    for path, text in templates:
        analysis = analyse_template(text)
        if analysis.error:
            yield positions.issue(analysis.error, path)
            continue
        reference_problem = False
        for name, attribute in analysis.references:
            issue = _reference_issue(name, attribute, allowed, plan_vars)
            if issue:
                message, hint = issue
                yield positions.issue(message, path, suggestion=hint)
                reference_problem = True
                break
        if analysis.uncalled and not reference_problem:
            first = analysis.uncalled[0]
            yield positions.issue(
                f"fake.{first} is a function: write fake.{first}() to call it", path
            )


_ALLOWED = frozenset(RESERVED_NAMES) | JINJA_GLOBALS


@plan_rule
def case_templates(context: RuleContext) -> Iterator[PlanIssue]:
    """Templates in cases parse and read only names a case run provides."""
    plan_vars = context.plan_vars
    for case in context.cases:
        if not case.templates:
            continue
        names = case.parameter_names
        allowed = _ALLOWED | names if names else _ALLOWED
        yield from _template_issues(case.templates, case.positions, allowed, plan_vars)


@plan_rule
def plan_templates(context: RuleContext) -> Iterator[PlanIssue]:
    """Templates elsewhere in the plan (targets, data) parse and read known names."""
    if not context.whole_plan:
        return
    templates = template_strings(context.data, (), skip=("cases", "include"))
    yield from _template_issues(templates, context.positions, _ALLOWED, context.plan_vars)


def _saved_keys(step: object) -> set[str]:
    """Names a step saves: its own `save`, and a wait_until's inner step's `save`."""
    if not isinstance(step, dict):
        return set()
    save = step.get("save")
    keys = {str(k) for k in save} if isinstance(save, dict) else set()
    wait = step.get("wait_until")
    if isinstance(wait, dict):
        keys |= _saved_keys(wait.get("step"))
    return keys


def _step_templates(case: CaseSource) -> dict[tuple[str, int], list[tuple[DataPath, str]]]:
    """The case's templated strings grouped by the step they are in: (phase, index)."""
    depth = len(case.path)
    grouped: dict[tuple[str, int], list[tuple[DataPath, str]]] = {}
    for path, text in case.templates:
        if len(path) > depth + 1 and path[depth] in PHASES:
            index = path[depth + 1]
            if isinstance(index, int):
                grouped.setdefault((str(path[depth]), index), []).append((path, text))
    return grouped


@plan_rule
def saved_before_use(context: RuleContext) -> Iterator[PlanIssue]:
    """`saved.X` is saved by an earlier step of the case (or by the same step).

    Setup and steps run in order; teardown runs last and may use anything saved before.
    """
    for case in context.cases:
        if not any("saved" in text for _, text in case.templates):
            continue
        by_step = _step_templates(case)
        phases = [(phase, case.steps(phase)) for phase in PHASES]
        everything = {key for _, steps in phases for step in steps for key in _saved_keys(step)}
        available: set[str] = set()
        for phase, steps in phases:
            if phase == "teardown":
                available = set(everything)
            for index, step in enumerate(steps):
                own = _saved_keys(step)
                for path, text in by_step.get((phase, index), ()):
                    for name, attribute in analyse_template(text).references:
                        if name != "saved" or attribute is None:
                            continue
                        if attribute in available or attribute in own:
                            continue
                        if attribute in everything:
                            message = f"saved.{attribute} is used before the step that saves it"
                        else:
                            message = f"saved.{attribute} is not saved by any step of this case"
                        hint = did_you_mean(attribute, sorted(available | own))
                        yield case.positions.issue(message, path, suggestion=hint)
                        break
                available |= own


@plan_rule
def parameters_defined(context: RuleContext) -> Iterator[PlanIssue]:
    """`params.X` (and a bare parameter name) is a key of every parameter set of the case.

    Otherwise the run with a set that lacks it fails on an undefined name (before this rule,
    `{{ params.X }}` could reach the reports unrendered).
    """
    for case in context.cases:
        if not case.templates:
            continue
        names = case.parameter_names
        keys = [{str(key) for key in entry} for entry in case.parameter_sets]
        for path, text in case.templates:
            for name, attribute in analyse_template(text).references:
                if name == "params" and attribute is not None:
                    wanted = attribute
                elif name in names and name not in RESERVED_NAMES:
                    wanted = name
                else:
                    continue
                issue = _parameter_issue(case, path, wanted, names, keys)
                if issue is not None:
                    yield issue
                    break


def _parameter_issue(
    case: CaseSource, path: DataPath, wanted: str, names: set[str], keys: list[set[str]]
) -> PlanIssue | None:
    if not keys:
        return case.positions.issue(
            f"params.{wanted} is used, but this case has no parameters "
            f"(add parameters: [{{{wanted}: ...}}])",
            path,
        )
    if wanted not in names:
        return case.positions.issue(
            f"params.{wanted} is not a parameter of this case (its parameters: "
            f"{', '.join(sorted(names)) or 'none'})",
            path,
            suggestion=did_you_mean(wanted, sorted(names)),
        )
    missing = [str(number) for number, entry in enumerate(keys, 1) if wanted not in entry]
    if not missing:
        return None
    sets = "set " + missing[0] if len(missing) == 1 else "sets " + ", ".join(missing[:10])
    return case.positions.issue(
        f"parameter '{wanted}' is missing from parameter {sets} of this case: every set must "
        "give the parameters the case uses",
        path,
    )
