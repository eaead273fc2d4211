"""Included suites: from a plan's `include:` entries to the selected cases of each suite file.

Each suite file is read and validated with its module/category defaults filled into the cases
that omit them; the include's filters (cases, exclude, tags) then pick the cases that run.
Cases left out are remembered, so that a reference to one says why it is not in the plan.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmqa.core.errors import PlanIssue
from crmqa.plan.documents import validate_model
from crmqa.plan.issues import clip, did_you_mean
from crmqa.plan.models import Category, Suite
from crmqa.plan.sources import CaseSource, as_list
from crmqa.plan.yaml_source import DataPath, PositionMap, YamlDocument, read_yaml

__all__ = [
    "ID_CUTOFF",
    "Includes",
    "SuiteSource",
    "display_join",
    "suite_source",
    "yaml_files_under",
]

YAML_SUFFIXES = (".yaml", ".yml")
SKIPPED_DIRS = frozenset({"node_modules", "reports", "__pycache__", "venv"})
#: Case ids share prefixes (LEAD-001, LEAD-101): suggest only really close ones.
ID_CUTOFF = 0.75


@dataclass
class SuiteSource:
    """One suite file as read: its document, display name, model and cases."""

    document: YamlDocument
    display: str
    model: Suite | None
    cases: list[CaseSource]


def display_join(base_display: str, relative: str) -> str:
    """The display name of `relative` as written beside the file shown as `base_display`."""
    return os.path.normpath(os.path.join(os.path.dirname(base_display), relative))


def yaml_files_under(folder: Path, limit: int = 2000) -> list[str]:
    """Relative paths of YAML files under `folder`, for "did you mean" on a missing file."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS]
        for name in files:
            if name.endswith(YAML_SUFFIXES):
                found.append(os.path.relpath(os.path.join(root, name), folder))
                if len(found) >= limit:
                    return found
    return found


def _suite_defaults(info: Mapping[str, Any]) -> dict[str, str]:
    """The suite's module/category for its cases; invalid ones are reported once, not per case."""
    defaults: dict[str, str] = {}
    if isinstance(info.get("module"), str):
        defaults["module"] = info["module"]
    if info.get("category") in {category.value for category in Category}:
        defaults["category"] = info["category"]
    return defaults


def suite_source(
    document: YamlDocument, display: str, path: Path | None
) -> tuple[SuiteSource, list[PlanIssue]]:
    """Validate a suite document (cases given the suite's defaults); the suite and its issues."""
    data: dict[str, Any] = document.data
    raw_info = data.get("suite")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    suite_id = info.get("id") if isinstance(info.get("id"), str) else None
    defaults = _suite_defaults(info)
    raw_cases = data.get("cases")
    if defaults and isinstance(raw_cases, list):
        raw_cases = [{**defaults, **case} if isinstance(case, dict) else case for case in raw_cases]
        data = {**data, "cases": raw_cases}
    suite, issues = validate_model(
        Suite, data, document.positions, part_sizes=document.part_sizes
    )
    sources = [
        CaseSource(raw, ("cases", index), document.positions, suite_id, path)
        for index, raw in enumerate(as_list(raw_cases))
        if isinstance(raw, dict)
    ]
    if suite is not None:
        for source, model in zip(sources, suite.cases, strict=True):
            source.model = model
    return SuiteSource(document, display, suite, sources), issues


@dataclass
class Includes:
    """Resolves one plan's include entries; collects issues and the files it read, in order."""

    plan_path: Path
    plan_display: str
    issues: list[PlanIssue] = field(default_factory=list)
    file_order: list[str] = field(default_factory=list)
    #: case id -> display name of the suite whose include filters left it out
    excluded: dict[str, str] = field(default_factory=dict)
    _seen: set[Path] = field(default_factory=set, init=False, repr=False)

    @property
    def base_dir(self) -> Path:
        """The folder include paths are relative to."""
        return self.plan_path.parent

    def resolve(self, entries: list[Any], positions: PositionMap) -> list[CaseSource]:
        """The selected cases of every include entry, in include order."""
        selected: list[CaseSource] = []
        for index, entry in enumerate(entries):
            selected.extend(self._include(index, entry, positions))
        return selected

    def _include(self, index: int, entry: Any, positions: PositionMap) -> list[CaseSource]:
        where: DataPath
        filters: Mapping[str, Any]
        if isinstance(entry, str):
            relative, filters, where = entry, {}, ("include", index)
        elif isinstance(entry, dict) and isinstance(entry.get("suite"), str):
            relative, filters, where = entry["suite"], entry, ("include", index, "suite")
        else:
            return []  # the model reports the malformed entry
        target = self.base_dir / relative
        display = display_join(self.plan_display, relative)
        if not target.is_file():
            problem = "is a folder" if target.is_dir() else "does not exist"
            self.issues.append(
                positions.issue(
                    f"included suite file '{relative}' {problem}",
                    where,
                    suggestion=did_you_mean(relative, yaml_files_under(self.base_dir)),
                )
            )
            return []
        resolved = target.resolve()
        if resolved == self.plan_path.resolve():
            self.issues.append(positions.issue("a plan cannot include itself", where))
            return []
        if resolved in self._seen:
            self.issues.append(positions.issue(f"suite file '{relative}' is included twice", where))
            return []
        suite = self._load_suite(target, display, positions, where)
        if suite is None:
            return []
        self._seen.add(resolved)
        return self._filter(suite, filters, positions, ("include", index))

    def _load_suite(
        self, path: Path, display: str, plan_positions: PositionMap, where: DataPath
    ) -> SuiteSource | None:
        document = read_yaml(path, display_name=display)
        if display not in self.file_order:
            self.file_order.append(display)
        self.issues.extend(document.issues)
        if document.issues:
            return None
        data = document.data
        if not isinstance(data, dict) or "suite" not in data:
            looks_like = ""
            if isinstance(data, dict) and "targets" in data:
                looks_like = " (it looks like a plan)"
            elif isinstance(data, dict) and "results" in data:
                looks_like = " (it looks like a manual results file)"
            self.issues.append(
                plan_positions.issue(
                    f"'{display}' is not a suite file{looks_like}: a suite has top-level "
                    "keys 'suite' and 'cases'",
                    where,
                )
            )
            return None
        suite, issues = suite_source(document, display, path)
        self.issues.extend(issues)
        return suite

    def _filter(
        self,
        suite: SuiteSource,
        filters: Mapping[str, Any],
        positions: PositionMap,
        where: DataPath,
    ) -> list[CaseSource]:
        ids = [source.id for source in suite.cases if source.id]
        id_set = set(ids)
        wanted = filters.get("cases")
        excluded = filters.get("exclude")
        tags = filters.get("tags")
        for key, names in (("cases", wanted), ("exclude", excluded)):
            for position, name in enumerate(as_list(names)):
                if isinstance(name, str) and name not in id_set:
                    self.issues.append(
                        positions.issue(
                            f"case '{clip(name)}' is not in suite '{suite.display}'",
                            (*where, key, position),
                            suggestion=did_you_mean(name, ids, cutoff=ID_CUTOFF),
                        )
                    )
        wanted_ids = {n for n in wanted if isinstance(n, str)} if isinstance(wanted, list) else None
        excluded_ids = {n for n in as_list(excluded) if isinstance(n, str)}
        wanted_tags = tags if isinstance(tags, list) else None
        chosen: list[CaseSource] = []
        for source in suite.cases:
            case_tags = as_list(source.raw.get("tags"))
            keep = (
                (wanted_ids is None or source.id in wanted_ids)
                and source.id not in excluded_ids
                and (wanted_tags is None or any(tag in case_tags for tag in wanted_tags))
            )
            if keep:
                chosen.append(source)
            elif source.id:
                self.excluded[source.id] = suite.display
        return chosen
