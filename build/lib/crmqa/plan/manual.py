"""The manual results file a plan names: read it, validate it, and match it to manual cases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmqa.core.errors import PlanIssue
from crmqa.plan.documents import document_shape_issue, validate_model
from crmqa.plan.includes import ID_CUTOFF, display_join, yaml_files_under
from crmqa.plan.issues import clip, did_you_mean
from crmqa.plan.models import Category, ManualResult, ManualResultsFile
from crmqa.plan.sources import CaseSource
from crmqa.plan.yaml_source import PositionMap, read_yaml

__all__ = ["ManualResults", "load_manual_results"]


@dataclass
class ManualResults:
    """What a plan's manual results file holds, the file's display name, and its problems."""

    results: dict[str, ManualResult] = field(default_factory=dict)
    display: str | None = None
    issues: list[PlanIssue] = field(default_factory=list)


def load_manual_results(
    plan_data: Mapping[str, Any],
    positions: PositionMap,
    base_dir: Path,
    plan_display: str,
    cases: Sequence[CaseSource],
) -> ManualResults:
    """Read the file named by `manual_results.file`; every id must be a manual case."""
    spec = plan_data.get("manual_results")
    if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
        return ManualResults()
    relative = spec["file"]
    target = base_dir / relative
    display = display_join(plan_display, relative)
    if not target.is_file():
        issue = positions.issue(
            f"manual results file '{relative}' does not exist; create it or remove "
            "manual_results",
            ("manual_results", "file"),
            suggestion=did_you_mean(relative, yaml_files_under(base_dir)),
        )
        return ManualResults(issues=[issue])
    document = read_yaml(target, display_name=display)
    found = ManualResults(display=display, issues=list(document.issues))
    shape = document_shape_issue(document, "a manual results file", ["results"])
    if shape is not None:
        found.issues.append(shape)
    if document.issues or shape is not None:
        return found
    model, issues = validate_model(
        ManualResultsFile, document.data, document.positions, part_sizes=document.part_sizes
    )
    found.issues.extend(issues)
    manual_ids = [
        case.id for case in cases if case.id and case.category == Category.MANUAL.value
    ]
    manual_set = set(manual_ids)
    all_ids = {case.id for case in cases if case.id}
    raw_results = document.data.get("results")
    if isinstance(raw_results, dict):
        for name in raw_results:
            if name in manual_set:
                continue
            if name in all_ids:
                message, hint = f"case '{clip(name)}' is not a manual case", None
            else:
                message = f"unknown manual case '{clip(name)}'"
                hint = did_you_mean(name, manual_ids, cutoff=ID_CUTOFF)
            found.issues.append(
                document.positions.issue(message, ("results", name), at_key=True, suggestion=hint)
            )
    if model is not None:
        found.results = dict(model.results)
    return found
