"""The one validation: a plan, its target, its profile and its cases, before any request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from crmqa.core.errors import PlanError, PlanIssue
from crmqa.drivers.registry import DriverRegistry, default_registry
from crmqa.plan.loader import LoadedPlan, load_plan
from crmqa.profiles.models import Profile
from crmqa.validation.cases import case_issues, flag_notes
from crmqa.validation.targets import PlanPositions, environment_issues, target_profile


@dataclass
class PreparedRun:
    """A plan that passed validation, with the target it runs against and its profile.

    `notes` are things a reader should know that are not mistakes (cases that will be not
    applicable on this target because of its flags).
    """

    loaded: LoadedPlan
    target_name: str
    profile: Profile
    notes: list[str] = field(default_factory=list)


def prepare_run(
    plan_path: str | Path,
    *,
    target: str | None = None,
    environment: Mapping[str, str] | None = None,
    registry: DriverRegistry | None = None,
    all_targets: bool = False,
) -> PreparedRun:
    """Validate a plan for a run against `target` (default: the plan's own target).

    Raises `PlanError` with every problem found. `environment` (os.environ for a run) adds the
    checks of what the target needs from it; without one (`crmqa validate`), only the files
    are judged. `all_targets` also loads and checks every other target's profile.
    """
    loaded = load_plan(plan_path)
    positions = PlanPositions(loaded)
    plan = loaded.plan
    name = (target or plan.target).strip()
    if name not in plan.targets:
        known = ", ".join(sorted(plan.targets))
        raise PlanError([PlanIssue(
            f"the plan has no target '{name}' (its targets: {known})",
            suggestion=_suggest(name, sorted(plan.targets)),
        )])
    registry = registry or default_registry()
    issues: list[PlanIssue] = []
    names = [name, *(other for other in plan.targets if other != name)] if all_targets else [name]
    profiles: dict[str, Profile] = {}
    for target_name in names:
        profile, problems = target_profile(loaded, target_name, positions)
        issues += problems
        if profile is not None:
            profiles[target_name] = profile
    for profile in profiles.values():
        issues += case_issues(loaded, profile, registry)
    if environment is not None and name in profiles:
        issues += environment_issues(loaded, name, profiles[name], environment, positions)
    if issues:
        raise PlanError(_unique(issues))
    profile = profiles[name]
    return PreparedRun(loaded, name, profile, flag_notes(loaded, name))


def _unique(issues: list[PlanIssue]) -> list[PlanIssue]:
    """Each issue once (several targets may find the same one), in file and line order."""
    seen: dict[PlanIssue, None] = dict.fromkeys(issues)

    def key(issue: PlanIssue) -> tuple[str, int, int]:
        position = issue.position
        return (position.file, position.line, position.column) if position else ("", 0, 0)

    return sorted(seen, key=key)


def _suggest(word: str, known: list[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(word, known, n=1)
    return f"did you mean '{close[0]}'?" if close else None
