"""Loading a plan: the orchestration of reading, validation, includes and rules.

Everything is checked in one pass and every problem from every file is reported together, as
one `PlanError` whose issues each carry `file:line:col`, the offending line and, where one
exists, a "did you mean" suggestion. The steps, each in its own module:

1. `yaml_source`: every file is read into data plus positions, within bounds;
2. `documents`: each document is validated by its pydantic model (one schema technology);
3. `includes`: included suites are read, given their defaults, and filtered;
4. `rules`: cross-reference rules (targets, case ids, levels, dependencies, templates,
   parameters...) run over the raw data as well as the models, so that a structural error
   in one place does not hide a dangling reference in another;
5. `manual`: the manual results file is read and matched to the manual cases.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from crmqa.core.errors import PlanError, PlanIssue, SourcePosition
from crmqa.plan.documents import (
    document_kind,
    document_shape_issue,
    load_yaml_document,
    load_yaml_model,
    sorted_issues,
    validate_model,
)
from crmqa.plan.generators.expand import expand_plan
from crmqa.plan.includes import SKIPPED_DIRS, YAML_SUFFIXES, Includes, suite_source
from crmqa.plan.loaded import LoadedCase, LoadedPlan, dependency_order
from crmqa.plan.manual import load_manual_results
from crmqa.plan.models import ManualResultsFile, Plan
from crmqa.plan.rules import RuleContext, run_rules
from crmqa.plan.sources import CaseSource, as_list
from crmqa.plan.yaml_source import PositionMap, YamlDocument, gc_paused, read_yaml

__all__ = [
    "LoadedCase",
    "LoadedPlan",
    "PositionMap",
    "dependency_order",
    "document_kind",
    "load_plan",
    "load_yaml_document",
    "load_yaml_model",
    "validate_paths",
]

_PLAN_KEYS = ("id", "name", "system", "target", "targets")


def load_plan(path: str | Path) -> LoadedPlan:
    """Load, validate and resolve a plan; raise `PlanError` listing every problem found.

    Checks the plan and all included suites against the models, then every registered rule:
    target, case ids (must_pass, depends_on, waivers, include filters), dependency cycles,
    severity and priority levels, included files, template syntax, names and parameters,
    and the manual results file.
    """
    with gc_paused():
        return _load_plan(Path(path), str(path))


def _load_plan(plan_path: Path, display: str) -> LoadedPlan:
    document = read_yaml(plan_path, display_name=display)
    issues = list(document.issues)
    shape = document_shape_issue(document, "a plan", _PLAN_KEYS)
    if shape is not None:
        issues.append(shape)
    if issues:
        raise PlanError(issues)
    data: dict[str, Any] = document.data
    positions = document.positions
    if "suite" in data and "targets" not in data:
        raise PlanError(
            [
                positions.issue(
                    "this is a suite file, not a plan: include it from a plan "
                    "(`crmqa validate` checks a suite on its own)",
                    ("suite",),
                    at_key=True,
                )
            ]
        )

    plan, plan_issues = validate_model(Plan, data, positions, part_sizes=document.part_sizes)
    issues.extend(plan_issues)

    includes = Includes(plan_path, display, file_order=[display])
    selected = includes.resolve(as_list(data.get("include")), positions)
    issues.extend(includes.issues)
    own_cases = [
        CaseSource(raw, ("cases", index), positions)
        for index, raw in enumerate(as_list(data.get("cases")))
        if isinstance(raw, dict)
    ]
    if plan is not None:
        for source, model in zip(own_cases, plan.cases, strict=True):
            source.model = model
    selected.extend(own_cases)
    expansion = expand_plan(data, positions, plan)
    issues.extend(expansion.issues)
    selected.extend(expansion.cases)

    context = RuleContext(data, positions, selected, plan, includes.excluded)
    issues.extend(run_rules(context))
    manual = load_manual_results(data, positions, plan_path.parent, display, selected)
    issues.extend(manual.issues)
    file_order = includes.file_order + ([manual.display] if manual.display else [])

    if issues or plan is None:
        raise PlanError(sorted_issues(issues, file_order))
    expansion.apply_transforms(selected)
    return LoadedPlan(
        plan=plan,
        path=plan_path,
        base_dir=plan_path.parent,
        cases=[_loaded(source, display) for source in selected],
        manual_results=manual.results,
        positions=positions,
    )


def _loaded(source: CaseSource, display: str) -> LoadedCase:
    assert source.model is not None  # no issues means every case validated
    position = source.positions.value(source.path) or SourcePosition(display, 1, 1)
    return LoadedCase(
        source.model,
        position,
        source.suite_id,
        source.suite_path,
        positions=source.positions,
        path=source.path,
        generator=source.generator,
    )


# --------------------------------------------------------------------------- validate


DocumentValidator = Callable[[Path], list[PlanIssue]]


def validate_paths(
    paths: Iterable[str | Path],
    *,
    extra_kinds: Mapping[str, DocumentValidator] | None = None,
) -> list[PlanIssue]:
    """Validate plans and suites (or folders of them) as `crmqa validate` does.

    The kind of each file is told from its top-level keys: a plan is loaded fully (includes
    and all); a suite is checked on its own (structure, ids, templates, its own depends_on).
    `extra_kinds` maps a top-level key to a validator for other documents (profiles).
    Returns every issue found; an empty list means all files are valid.
    """
    # a suite validated on its own and through a plan reports the same issue twice
    issues: dict[PlanIssue, None] = {}
    with gc_paused():
        for given in paths:
            for file in _expand(Path(given)):
                issues.update((issue, None) for issue in _validate_one(file, extra_kinds or {}))
    return list(issues)


def _expand(path: Path) -> list[Path]:
    """A file as is; a folder as the YAML files under it (hidden and tool folders skipped)."""
    if not path.is_dir():
        return [path]
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        found.extend(Path(root) / name for name in sorted(files) if name.endswith(YAML_SUFFIXES))
    return found


def _validate_one(path: Path, extra_kinds: Mapping[str, DocumentValidator]) -> list[PlanIssue]:
    display = str(path)
    document = read_yaml(path, display_name=display)
    if document.issues:
        return document.issues
    for key, validator in extra_kinds.items():
        if isinstance(document.data, dict) and key in document.data:
            return validator(path)
    kind = document_kind(document.data)
    if kind == "plan":
        try:
            load_plan(path)
        except PlanError as error:
            return error.issues
        return []
    if kind == "suite":
        return _validate_suite_alone(document, display)
    if kind == "manual_results":
        try:
            load_yaml_model(path, ManualResultsFile, display_name=display)
        except PlanError as error:
            return error.issues
        return []
    if document.data is None:
        return [
            PlanIssue(
                "the file is empty: a plan needs id, name, system, target and targets; "
                "a suite needs suite and cases",
                SourcePosition(display, 1, 1),
            )
        ]
    shape = document_shape_issue(document, "a plan or suite", _PLAN_KEYS)
    if shape is not None:
        return [shape]
    return [
        document.positions.issue(
            "cannot tell what this file is: a plan has id, name, system, target and targets; "
            "a suite has suite and cases"
        )
    ]


def _validate_suite_alone(document: YamlDocument, display: str) -> list[PlanIssue]:
    """Check one suite without a plan: what can be known without the plan's scales and vars."""
    suite, issues = suite_source(document, display, document.path)
    context = RuleContext({}, document.positions, suite.cases, whole_plan=False)
    return sorted_issues([*issues, *run_rules(context)], [display])
