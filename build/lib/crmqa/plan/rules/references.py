"""Rules about the plan's own references: target, gates, waivers and scales."""

from __future__ import annotations

from collections.abc import Iterator

from crmqa.core.errors import PlanIssue
from crmqa.plan.issues import clip, did_you_mean
from crmqa.plan.rules import RuleContext, plan_rule
from crmqa.plan.sources import as_list


@plan_rule
def known_target(context: RuleContext) -> Iterator[PlanIssue]:
    """`target:` names one of the plan's `targets`."""
    targets = context.data.get("targets")
    target = context.data.get("target")
    if isinstance(targets, dict) and isinstance(target, str):
        names = [str(name) for name in targets]
        if target.strip() not in names:
            yield context.positions.issue(
                f"unknown target '{clip(target)}': the plan's targets are "
                f"{', '.join(names) or 'none'}",
                ("target",),
                suggestion=did_you_mean(target, names),
            )


def _gates(context: RuleContext) -> dict[str, object]:
    gates = context.data.get("gates")
    return gates if isinstance(gates, dict) else {}


@plan_rule
def must_pass_known(context: RuleContext) -> Iterator[PlanIssue]:
    """`gates.must_pass` names cases of the plan."""
    for index, name in enumerate(as_list(_gates(context).get("must_pass"))):
        if isinstance(name, str) and name not in context.known_ids:
            message, hint = context.unknown_case(name)
            yield context.positions.issue(
                f"gates.must_pass: {message}", ("gates", "must_pass", index), suggestion=hint
            )


@plan_rule
def severity_ceiling_known(context: RuleContext) -> Iterator[PlanIssue]:
    """`gates.max_open_severity` is a level of the plan's severity scale."""
    ceiling = _gates(context).get("max_open_severity")
    scales = context.scales
    if scales is not None and isinstance(ceiling, str):
        levels = [level.name for level in scales.severity]
        if ceiling not in levels:
            yield context.positions.issue(
                f"unknown severity '{clip(ceiling)}': the plan's severity scale is "
                f"{', '.join(levels)}",
                ("gates", "max_open_severity"),
                suggestion=did_you_mean(ceiling, levels),
            )


@plan_rule
def waivers_known(context: RuleContext) -> Iterator[PlanIssue]:
    """A waiver names a case of the plan."""
    for index, waiver in enumerate(as_list(context.data.get("waivers"))):
        name = waiver.get("case") if isinstance(waiver, dict) else None
        if isinstance(name, str) and name not in context.known_ids:
            message, hint = context.unknown_case(name)
            yield context.positions.issue(
                f"waiver: {message}", ("waivers", index, "case"), suggestion=hint
            )


@plan_rule
def scale_levels_unique(context: RuleContext) -> Iterator[PlanIssue]:
    """No level name appears twice in a severity or priority scale."""
    scales = context.data.get("scales")
    if not isinstance(scales, dict):
        return
    for scale in ("severity", "priority"):
        seen: set[str] = set()
        for index, level in enumerate(as_list(scales.get(scale))):
            name = level.get("name") if isinstance(level, dict) else None
            if isinstance(name, str):
                if name in seen:
                    yield context.positions.issue(
                        f"level '{clip(name)}' appears twice in the {scale} scale",
                        ("scales", scale, index, "name"),
                    )
                seen.add(name)
