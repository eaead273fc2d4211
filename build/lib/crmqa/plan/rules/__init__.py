"""Cross-reference rules: what pydantic's per-document validation cannot see.

A rule is a plain function `(RuleContext) -> Iterable[PlanIssue]`. Every rule is listed in one
registry, `registered_rules()`, which the loader runs over each plan (and over a suite checked
on its own). Built-in rules register with `@plan_rule` exactly as a new kind of plan section
does: a future `load:` section puts its model and its rules side by side in its own module,
decorates the rules, and names the module in `BUILTIN_RULE_MODULES` (crmqa's own) or in the
`crmqa.plan_rules` entry-point group (a third party's: a module, or a rule function); nothing
in the loader changes.

The context gives a rule the plan's raw data with positions, the validated models (None where
validation failed, so that a structural error in one place does not hide a dangling reference
in another), and every selected case as a `CaseSource` positioned in its own file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from crmqa.core.entry_points import entry_points
from crmqa.core.errors import PlanIssue
from crmqa.plan.includes import ID_CUTOFF
from crmqa.plan.issues import clip, did_you_mean
from crmqa.plan.models import Plan, Scales
from crmqa.plan.sources import CaseSource
from crmqa.plan.yaml_source import PositionMap

__all__ = [
    "BUILTIN_RULE_MODULES",
    "ENTRY_POINT_GROUP",
    "Rule",
    "RuleContext",
    "plan_rule",
    "registered_rules",
    "run_rules",
    "suggest_id",
]


@dataclass
class RuleContext:
    """What a rule reads about one plan (or one suite checked without its plan).

    `data`/`positions`: the plan file's raw data and positions (for a suite checked alone, the
    suite's). `plan`: the validated plan, None when it did not validate. `cases`: every
    selected case in run order. `excluded`: ids an include filter left out -> that suite.
    `whole_plan`: False for a suite checked alone, where the plan's scales, variables,
    identities and other suites are unknown, so rules that need them stay silent.
    """

    data: Mapping[str, Any]
    positions: PositionMap
    cases: Sequence[CaseSource]
    plan: Plan | None = None
    excluded: Mapping[str, str] = field(default_factory=dict)
    whole_plan: bool = True

    @cached_property
    def case_ids(self) -> list[str]:
        """Ids of the selected cases, written order, each once."""
        return list(dict.fromkeys(case.id for case in self.cases if case.id))

    @cached_property
    def known_ids(self) -> frozenset[str]:
        """The same ids as a set, for membership tests."""
        return frozenset(self.case_ids)

    @cached_property
    def scales(self) -> Scales | None:
        """The plan's severity and priority scales; None when unknown or invalid."""
        if not self.whole_plan:
            return None
        if self.plan is not None:
            return self.plan.scales
        raw = self.data.get("scales", {})
        try:
            return Scales.model_validate(raw if raw is not None else {})
        except ValidationError:
            return None  # already reported by the plan's validation

    @cached_property
    def plan_vars(self) -> list[str] | None:
        """Names in `data.vars`; None when any name may be right (unknown or malformed)."""
        if not self.whole_plan:
            return None
        data = self.data.get("data")
        if not isinstance(data, dict):
            return []
        variables = data.get("vars", {})
        return [str(name) for name in variables] if isinstance(variables, dict) else None

    @cached_property
    def identities(self) -> list[str] | None:
        """Identity names of all targets; None when unknown or too broken to tell."""
        targets = self.data.get("targets") if self.whole_plan else None
        if not isinstance(targets, dict):
            return None
        names: dict[str, None] = {}
        for target in targets.values():
            if not isinstance(target, dict):
                return None
            identities = target.get("identities") or {}
            if not isinstance(identities, dict):
                return None
            names.update((str(name), None) for name in identities)
        return list(names)

    def unknown_case(self, name: str) -> tuple[str, str | None]:
        """The message and suggestion for a reference to a case that is not in the plan."""
        if name in self.excluded:
            return (
                f"case '{clip(name)}' is not part of this plan: the include filters for "
                f"'{self.excluded[name]}' leave it out",
                None,
            )
        return f"unknown case id '{clip(name)}'", suggest_id(name, self.case_ids)


def suggest_id(name: str, ids: Sequence[str]) -> str | None:
    """"did you mean" among case ids, kept fast for plans of hundreds of thousands of cases."""
    if len(ids) > 5_000:  # compare only ids of about the same length and start
        head = name[:2]
        ids = [i for i in ids if abs(len(i) - len(name)) <= 2 and i.startswith(head)][:5_000]
    return did_you_mean(name, ids, cutoff=ID_CUTOFF)


Rule = Callable[[RuleContext], Iterable[PlanIssue]]

_RULES: list[Rule] = []
#: Modules of crmqa's own rules, imported (and so registered) in this order.
BUILTIN_RULE_MODULES: tuple[str, ...] = (
    "crmqa.plan.rules.cases",
    "crmqa.plan.rules.references",
    "crmqa.plan.rules.templates",
    "crmqa.load.rules",  # the `load:` section's rules, beside its model
    "crmqa.plan.rules.tasks",
)
#: Entry-point group of other packages' rules: each names a module or a rule function.
ENTRY_POINT_GROUP = "crmqa.plan_rules"
_providers_loaded = False


def plan_rule(rule: Rule) -> Rule:
    """Register `rule` with every plan load (a decorator; built-ins use it too)."""
    if rule not in _RULES:
        _RULES.append(rule)
    return rule


def registered_rules() -> tuple[Rule, ...]:
    """Every registered rule, in registration order (built-in modules are imported first)."""
    global _providers_loaded
    if not _providers_loaded:
        _providers_loaded = True
        for module in BUILTIN_RULE_MODULES:
            importlib.import_module(module)
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            provided = entry.load()  # a module registers its rules as it is imported
            if callable(provided) and not isinstance(provided, type):
                plan_rule(provided)
    return tuple(_RULES)


def run_rules(context: RuleContext) -> list[PlanIssue]:
    """Run every registered rule over `context`; all their issues, rule by rule."""
    issues: list[PlanIssue] = []
    for rule in registered_rules():
        issues.extend(rule(context))
    return issues
