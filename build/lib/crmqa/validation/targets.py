"""Targets before the run: each one's profile and adapter load, and the environment has what
the selected target needs (the variables behind its base URL and its identities' secrets)."""

from __future__ import annotations

from collections.abc import Mapping

from crmqa.core.errors import EnvironmentProblem, PlanError, PlanIssue
from crmqa.plan.loader import LoadedPlan
from crmqa.plan.yaml_source import DataPath
from crmqa.profiles.adapter import load_adapter
from crmqa.profiles.loader import resolve_profile
from crmqa.profiles.models import Profile
from crmqa.profiles.target import ANONYMOUS, expand_target_value, resolve_identity
from crmqa.validation.cases import identities_used


class PlanPositions:
    """Where the plan's own keys sit, to point at a target's `profile:` or `base_url:`."""

    def __init__(self, loaded: LoadedPlan) -> None:
        self._loaded = loaded

    def issue(self, message: str, path: DataPath, *, suggestion: str | None = None,
              at_key: bool = False) -> PlanIssue:
        return self._loaded.issue(message, path, suggestion=suggestion, at_key=at_key)


def target_profile(loaded: LoadedPlan, name: str,
                   positions: PlanPositions) -> tuple[Profile | None, list[PlanIssue]]:
    """The target's profile with its adapter loaded, or the problems that prevent it."""
    target = loaded.plan.targets[name]
    where = ("targets", name, "profile")
    try:
        profile = resolve_profile(target.profile, loaded.base_dir)
    except PlanError as error:
        inside = [issue for issue in error.issues if issue.position is not None]
        # A problem without a position (unknown name, missing file) belongs on this line.
        issues = [positions.issue(issue.message, where, suggestion=issue.suggestion)
                  for issue in error.issues if issue.position is None]
        if inside:
            issues.insert(0, positions.issue(
                f"the profile of target '{name}' has {len(inside)} problem(s), listed with "
                "their positions", where))
        return None, issues + inside
    try:
        load_adapter(profile)
    except PlanError as error:
        return None, [positions.issue(
            f"the profile of target '{name}' names an adapter that cannot be used (see below)",
            where), *error.issues]
    return profile, []


def environment_issues(loaded: LoadedPlan, name: str, profile: Profile,
                       environment: Mapping[str, str],
                       positions: PlanPositions) -> list[PlanIssue]:
    """What the environment lacks for a run against target `name`."""
    target = loaded.plan.targets[name]
    issues: list[PlanIssue] = []
    try:
        expand_target_value(target.base_url, f"target '{name}' base_url", environment)
    except EnvironmentProblem as problem:
        issues.append(positions.issue(
            f"{problem}: set it, or give a default ({{{{ env.NAME | default('...') }}}})",
            ("targets", name, "base_url")))
    # One issue per set of unset variables, at the first identity that needs them.
    unset: dict[tuple[str, ...], list[str]] = {}
    used = set(identities_used(loaded, target))
    for identity in (name for name in target.identities if name in used):
        credential = target.identities.get(identity)
        if credential is None or identity == ANONYMOUS:
            continue
        missing = tuple(resolve_identity(identity, credential, environment).missing)
        if missing:
            unset.setdefault(missing, []).append(identity)
    for missing, identities in unset.items():
        plural = len(missing) > 1
        issues.append(positions.issue(
            f"environment variable{'s' if plural else ''} {', '.join(missing)} "
            f"{'are' if plural else 'is'} not set: identit{'ies' if len(identities) > 1 else 'y'}"
            f" {', '.join(identities)} of target '{name}' cannot log in",
            ("targets", name, "identities", identities[0]), at_key=True))
    return issues
