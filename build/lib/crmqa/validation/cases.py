"""Cases before the run: each driver checks its own steps on the target's profile, `needs:`
entries must name real capabilities, and what the target's flags will leave out is noted."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from crmqa.core.errors import CrmqaError, PlanIssue
from crmqa.drivers.base import StepCheckContext
from crmqa.drivers.registry import DriverRegistry
from crmqa.plan.canonical import ENTITIES, OPERATIONS, canonical_elements, is_canonical_screen
from crmqa.plan.case_sections import section_steps, sections_of
from crmqa.plan.effects import CHANGES, LOAD, case_effects
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.loader import LoadedCase, LoadedPlan
from crmqa.plan.models import Target, WaitStep
from crmqa.plan.templating import has_template
from crmqa.profiles.capabilities import capability_problem
from crmqa.profiles.models import Profile
from crmqa.profiles.target import ANONYMOUS, default_identity

_PHASES = ("setup", "steps", "teardown")
_NEED_FORMS = ("api", "ui", "<entity>", "<entity>.<operation>", "screen:<screen>[.<element>]",
               "field:<entity>.<field>", "identity:<name>", "auth:<scheme>", CHANGES, LOAD)


def steps_with_paths(loaded_case: LoadedCase) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every step of a case with its path inside the case, the step a wait repeats included.

    A case section (`load:`) comes as a step of its own (its driver checks it), followed by
    the ordinary steps written inside it.
    """
    case = loaded_case.case
    for phase in _PHASES:
        for index, step in enumerate(getattr(case, phase)):
            yield (phase, index), step
            if isinstance(step, WaitStep):
                yield (phase, index, "wait_until", "step"), step.wait_until.step
    for key, section in sections_of(case):
        yield (key,), section
    yield from section_steps(case)


def case_issue(loaded_case: LoadedCase, where: tuple[str | int, ...], message: str,
               suggestion: str | None = None) -> PlanIssue:
    """An issue at `where` inside a case, at the file:line:col it was written."""
    return loaded_case.issue(message, where, suggestion=suggestion)


def case_issues(loaded: LoadedPlan, profile: Profile,
                registry: DriverRegistry) -> list[PlanIssue]:
    """Every problem the drivers find in the plan's steps on this profile, and bad `needs:`."""
    context = StepCheckContext(profile=profile, base_dir=loaded.base_dir, plan=loaded.plan)
    issues: list[PlanIssue] = []
    for loaded_case in loaded.cases:
        for path, step in steps_with_paths(loaded_case):
            for where, schema in _schema_files(step):
                folders = search_folders(loaded.base_dir)
                if not has_template(schema) and find_data_file(schema, folders) is None:
                    issues.append(case_issue(loaded_case, (*path, *where),
                                             f"schema {missing_file_message(schema, folders)}"))
            if isinstance(step, WaitStep):
                continue  # its repeated step comes next
            try:
                # a check registered by reference imports its driver's module only now
                check = registry.spec_for(step).check
            except CrmqaError:
                continue  # no driver installed: the case is not applicable at run time
            if check is None:
                continue
            for problem in check(step, context):
                issues.append(case_issue(loaded_case, (*path, *problem.where), problem.message,
                                         problem.suggestion))
        for index, need in enumerate(loaded_case.case.needs):
            wrong = need_problem(need, profile)
            if wrong is not None:
                issues.append(case_issue(loaded_case, ("needs", index), *wrong))
    return issues


def _schema_files(step: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """(where, path) of each JSON Schema file a step's expectations name."""
    expectations: list[tuple[tuple[str, ...], Any]]
    if isinstance(step, WaitStep):
        expectations = [(("wait_until", "success"), step.wait_until.success),
                        (("wait_until", "failure"), step.wait_until.failure)]
    else:
        expectations = [(("expect",), getattr(step, "expect", None))]
    for where, expect in expectations:
        if expect is not None and isinstance(expect.schema_, str):
            yield (*where, "schema"), expect.schema_


def need_problem(need: str, profile: Profile) -> tuple[str, str | None] | None:
    """Why a `needs:` entry names no capability (message, suggestion), or None."""
    if has_template(need) or need in ("api", "ui", CHANGES, LOAD) or need in ENTITIES:
        return None
    kind, _, rest = need.partition(":")
    if kind in ("identity", "auth", "driver") and rest:
        return None
    if kind == "field":
        problem = capability_problem(need)
        return None if problem is None else (f"'{need}': {problem}", None)
    if kind == "screen" and rest:
        screen, _, element = rest.partition(".")
        if screen in profile.screens:
            known = set(profile.screens.elements_of(screen)) | canonical_elements(screen)
            if not element or element in known:
                return None
            return (f"'{need}': screen '{screen}' has no element '{element}'",
                    _suggest(element, sorted(known)))
        if is_canonical_screen(screen) and (not element or element in canonical_elements(screen)):
            return None
        return (f"'{need}' names no canonical screen or element, nor one of profile "
                f"'{profile.name}'", _suggest(rest, sorted(profile.screens.names)))
    entity, dot, operation = need.partition(".")
    if dot and entity in ENTITIES and operation in OPERATIONS:
        return None
    candidates = [*ENTITIES, *(f"{e}.{o}" for e in ENTITIES for o in OPERATIONS), "api", "ui",
                  CHANGES, LOAD]
    return (f"'{need}' is not a capability: write one of {', '.join(_NEED_FORMS)}",
            _suggest(need, candidates))


def identities_used(loaded: LoadedPlan, target: Target) -> list[str]:
    """The identities of `target` that the plan's cases act as, its default one included."""
    declared = list(target.identities)
    default = default_identity(declared)
    used: dict[str, None] = {}
    acts_by_default = False
    changes = False
    for loaded_case in loaded.cases:
        changes = changes or CHANGES in case_effects(loaded_case.case)
        for _path, step in steps_with_paths(loaded_case):
            if isinstance(step, WaitStep):
                continue
            acting = getattr(step, "as_", None)
            if acting is None:
                acts_by_default = True
            elif not has_template(acting) and acting in declared:
                used[acting] = None
    if acts_by_default:
        used[default] = None
    if changes and "admin" in declared:  # the engine cleans up as admin
        used["admin"] = None
    return [name for name in used if name != ANONYMOUS]


def flag_notes(loaded: LoadedPlan, name: str) -> list[str]:
    """Cases the target's flags will leave out (not applicable), said before the run."""
    target = loaded.plan.targets[name]
    notes = []
    for effect, allowed, flag, doing in (
        (CHANGES, target.destructive_ok, "destructive_ok", "change records"),
        (LOAD, target.load_ok, "load_ok", "put load on the CRM"),
    ):
        if allowed:
            continue
        ids = [c.case.id for c in loaded.cases if effect in case_effects(c.case)]
        if ids:
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            notes.append(
                f"target '{name}' has {flag}: false, so {len(ids)} case(s) that {doing} will "
                f"be not applicable ({shown}); set {flag}: true on the target to run them"
            )
    return notes


def _suggest(word: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(word, known, n=1)
    return f"did you mean '{close[0]}'?" if close else None
