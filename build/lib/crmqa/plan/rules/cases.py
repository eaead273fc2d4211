"""Rules about cases: unique ids, scale levels, dependencies and identities."""

from __future__ import annotations

from collections.abc import Iterator

from crmqa.core.errors import PlanIssue
from crmqa.plan.dependencies import dependency_cycles
from crmqa.plan.issues import clip, did_you_mean
from crmqa.plan.rules import RuleContext, plan_rule
from crmqa.plan.sources import PHASES, CaseSource, as_list
from crmqa.plan.templating import has_template
from crmqa.plan.yaml_source import DataPath


@plan_rule
def unique_case_ids(context: RuleContext) -> Iterator[PlanIssue]:
    """Two cases of one plan (in any of its files) never share an id."""
    first: dict[str, CaseSource] = {}
    for case in context.cases:
        case_id = case.id
        if case_id is None:
            continue
        if case_id in first:
            earlier = first[case_id]
            where = earlier.positions.value((*earlier.path, "id"))
            yield case.issue(
                f"duplicate case id '{clip(case_id)}' (first defined at {where})", "id"
            )
        else:
            first[case_id] = case


@plan_rule
def known_levels(context: RuleContext) -> Iterator[PlanIssue]:
    """A case's severity and priority are levels of the plan's scales."""
    scales = context.scales
    if scales is None:
        return
    for scale, levels in (
        ("severity", [level.name for level in scales.severity]),
        ("priority", [level.name for level in scales.priority]),
    ):
        known = set(levels)
        for case in context.cases:
            value = case.raw.get(scale)
            if isinstance(value, str) and value not in known:
                yield case.issue(
                    f"unknown {scale} '{clip(value)}': the plan's {scale} scale is "
                    f"{', '.join(levels)}",
                    scale,
                    suggestion=did_you_mean(value, levels),
                )


@plan_rule
def known_dependencies(context: RuleContext) -> Iterator[PlanIssue]:
    """`depends_on` names other cases of the plan (a suite alone: at least not itself)."""
    for case in context.cases:
        for index, name in enumerate(as_list(case.raw.get("depends_on"))):
            if not isinstance(name, str):
                continue
            if name == case.id:
                yield case.issue("a case cannot depend on itself", "depends_on", index)
            elif context.whole_plan and name not in context.known_ids:
                # a suite checked alone may depend on cases of other suites
                message, hint = context.unknown_case(name)
                yield case.issue(message, "depends_on", index, suggestion=hint)


@plan_rule
def no_dependency_cycles(context: RuleContext) -> Iterator[PlanIssue]:
    """Cases do not depend on each other in a circle: none of them could ever run."""
    with_ids = [case for case in context.cases if case.id]
    depends = [as_list(case.raw.get("depends_on")) for case in with_ids]
    if not any(depends):
        return
    ids = [case.id or "" for case in with_ids]
    first: dict[str | None, CaseSource] = {}
    for case in with_ids:
        first.setdefault(case.id, case)
    for cycle in dependency_cycles(ids, depends):
        chain = " -> ".join([*cycle, cycle[0]])
        yield first[cycle[0]].issue(
            f"cases depend on each other in a cycle: {chain}", "depends_on"
        )


def _identity_uses(step: object, path: DataPath) -> list[tuple[DataPath, str]]:
    """(path, name) of each `as:` in a step, the repeated step of a wait_until included."""
    if not isinstance(step, dict):
        return []
    uses = [((*path, "as"), step["as"])] if isinstance(step.get("as"), str) else []
    wait = step.get("wait_until")
    if isinstance(wait, dict):
        uses += _identity_uses(wait.get("step"), (*path, "wait_until", "step"))
    return uses


@plan_rule
def known_identities(context: RuleContext) -> Iterator[PlanIssue]:
    """`as: NAME` is an identity of some target, or `anonymous` (typos fail early).

    Only the plan's own cases are checked: an included (portable) suite may use roles a
    target lacks (`sales2`, `viewer`); such cases are not applicable at run time.
    """
    identities = context.identities
    if identities is None:
        return
    known = {*identities, "anonymous"}
    for case in context.cases:
        if case.suite_path is not None:
            continue
        for phase in PHASES:
            for index, step in enumerate(case.steps(phase)):
                for path, name in _identity_uses(step, (*case.path, phase, index)):
                    if name not in known and not has_template(name):
                        yield case.positions.issue(
                            f"no target has an identity '{clip(name)}' (identities: "
                            f"{', '.join(identities) or 'none'})",
                            path,
                            suggestion=did_you_mean(name, [*identities, "anonymous"]),
                        )


@plan_rule
def translated_step_names(context: RuleContext) -> Iterator[PlanIssue]:
    """A case's `translations.<lang>.steps` name steps the case has: a step renamed later
    would otherwise keep its English name in every translated report without a word."""
    for case in context.cases:
        translations = case.raw.get("translations")
        if not isinstance(translations, dict):
            continue
        names = [
            step["name"] for phase in PHASES for step in case.steps(phase)
            if isinstance(step, dict) and isinstance(step.get("name"), str)
        ]
        for lang, translation in translations.items():
            if not isinstance(translation, dict) or not isinstance(translation.get("steps"), dict):
                continue
            for name in translation["steps"]:
                if name not in names:
                    written = ", ".join(f"'{clip(n)}'" for n in names) or "none"
                    yield case.issue(
                        f"translations.{lang}.steps names no step of this case: "
                        f"'{clip(str(name))}' (its named steps: {written})",
                        "translations", lang, "steps", name,
                        at_key=True,
                        suggestion=did_you_mean(str(name), names),
                    )
