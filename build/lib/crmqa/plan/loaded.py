"""What loading a plan gives the layers above: the plan, its cases, and where each was written.

`LoadedCase` and `LoadedPlan` carry the `PositionMap` of their file, so that a later layer (a
profile-aware validation, say) can position its own issues inside a case's steps or on the
plan's targets, exactly as the loader positions its own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crmqa.core.errors import PlanIssue, SourcePosition
from crmqa.plan.dependencies import run_order
from crmqa.plan.models import Case, ManualResult, Plan
from crmqa.plan.yaml_source import DataPath, PositionMap

__all__ = ["LoadedCase", "LoadedPlan", "dependency_order"]


@dataclass(frozen=True)
class LoadedCase:
    """One case of the plan, with suite defaults applied and where it was written.

    `positions` is the position map of the file the case is in (the plan, or an included
    suite); `path` is the case's data path inside that file, e.g. `("cases", 3)`.
    """

    case: Case
    source: SourcePosition
    suite_id: str | None = None
    suite_path: Path | None = None
    positions: PositionMap | None = field(default=None, kw_only=True, compare=False)
    path: DataPath = field(default=(), kw_only=True)
    #: the generator (`generate:` section) that made the case; None for a written case
    generator: str | None = field(default=None, kw_only=True)

    def position(self, subpath: DataPath = (), *, at_key: bool = False) -> SourcePosition:
        """Where `subpath` inside this case is written (nearest written ancestor if absent)."""
        if self.positions is None:
            return self.source
        full = (*self.path, *subpath)
        found = self.positions.key(full) if at_key else self.positions.value(full)
        return found or self.source

    def issue(
        self,
        message: str,
        subpath: DataPath = (),
        *,
        at_key: bool = False,
        suggestion: str | None = None,
    ) -> PlanIssue:
        """A PlanIssue at `subpath` inside this case, e.g. `("steps", 1, "expect", "status")`.

        Positioned at the value (or with `at_key`, at its key) with the source line, as the
        loader's own issues are; a path that is not written points at its nearest ancestor.
        """
        if self.positions is None:
            return PlanIssue(message, self.source, suggestion)
        return self.positions.issue(
            message, (*self.path, *subpath), at_key=at_key, suggestion=suggestion
        )


def dependency_order(cases: Sequence[LoadedCase]) -> list[LoadedCase]:
    """`cases` in a stable order that runs every case after the cases it depends on.

    Cases keep their written order unless a dependency forces one later. Dependencies on
    cases not in `cases` are ignored. Raises `graphlib.CycleError` on a cycle (a loaded plan
    has none: the loader reports cycles).
    """
    ids = [loaded.case.id for loaded in cases]
    order = run_order(ids, [loaded.case.depends_on for loaded in cases])
    return [cases[index] for index in order]


@dataclass
class LoadedPlan:
    """A valid plan with its included suites resolved.

    `cases` holds the included suites' selected cases, in include order, then the plan's own,
    then the generated ones (`LoadedCase.generator` names the generator).
    `manual_results` maps manual case ids to what a tester recorded (empty without a file).
    `positions` is the plan file's position map (targets, gates, data...).
    """

    plan: Plan
    path: Path
    base_dir: Path
    cases: list[LoadedCase]
    manual_results: dict[str, ManualResult] = field(default_factory=dict)
    positions: PositionMap | None = field(default=None, kw_only=True)

    def case(self, case_id: str) -> LoadedCase:
        """The loaded case with this id (KeyError if there is none)."""
        for loaded in self.cases:
            if loaded.case.id == case_id:
                return loaded
        raise KeyError(case_id)

    @property
    def case_ids(self) -> list[str]:
        """Ids of all cases, in written order."""
        return [loaded.case.id for loaded in self.cases]

    def dependency_order(self) -> list[LoadedCase]:
        """The cases in a stable order that respects `depends_on` (see `dependency_order`)."""
        return dependency_order(self.cases)

    def digest(self) -> str:
        """A hash of the plan file and every suite file it includes (their bytes).

        Two runs with the same digest ran the same written cases, wherever the files lie;
        results of one may stand in for the other (`crmqa calibrate --clean-run`).
        """
        files = {self.path.resolve()} | {
            loaded.suite_path.resolve() for loaded in self.cases if loaded.suite_path}
        hashed = hashlib.sha256()
        # Named relative to the plan's folder, so that a clone elsewhere hashes the same.
        for path in sorted(files):
            name = Path(os.path.relpath(path, self.base_dir.resolve())).as_posix()
            hashed.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        return hashed.hexdigest()[:16]

    def issue(
        self,
        message: str,
        path: DataPath = (),
        *,
        at_key: bool = False,
        suggestion: str | None = None,
    ) -> PlanIssue:
        """A PlanIssue at `path` in the plan file, e.g. `("targets", "staging", "base_url")`."""
        if self.positions is None:
            return PlanIssue(message, SourcePosition(str(self.path), 1, 1), suggestion)
        return self.positions.issue(message, path, at_key=at_key, suggestion=suggestion)
