"""Where faults show and where cases look: the surfaces `crmqa calibrate` pairs them by.

A fault declares its surfaces (`Fault.touches`: canonical operations such as `lead.search`,
screens such as `screen:lead_list`, `http` for what only raw requests see, `migration:lead`);
a case uses surfaces too, read from its steps. Two faults whose surfaces overlap never share a
sandbox, and a faulty sandbox runs only the cases that use one of its faults' surfaces.

This module also orders a group's cases for a calibration that stops as soon as every fault
of the group is caught (`--until-caught`): the cases most likely to see a fault come first.
The order is a general prior (the steps that check, the case's category, how focused the case
is), never a list of known catchers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Any

from crmqa.core.results import CaseResult, Outcome
from crmqa.plan.canonical import ENTITIES, OPERATIONS, canonical_screens
from crmqa.plan.case_sections import section_steps, sections_of
from crmqa.plan.loaded import LoadedCase, LoadedPlan
from crmqa.plan.models import OpStep, RequestStep, UiStep, WaitStep
from crmqa.sandbox.faults import Fault


def _universe() -> frozenset[str]:
    ops = {f"{entity}.{operation}" for entity in ENTITIES for operation in OPERATIONS}
    return frozenset(ops | {f"screen:{name}" for name in canonical_screens()} | {"http"}
                     | {f"migration:{entity}" for entity in ENTITIES})


UNIVERSE = _universe()


def expand(patterns: Iterable[str]) -> frozenset[str]:
    """Concrete surfaces a list of patterns (`*.update`, `screen:contact_*`) stands for."""
    out: set[str] = set()
    for pattern in patterns:
        out.add(pattern)
        out.update(surface for surface in UNIVERSE if fnmatchcase(surface, pattern))
    return frozenset(out)


def fault_surfaces(fault: Fault) -> frozenset[str]:
    """The concrete surfaces a fault declares."""
    return expand(fault.touches)


def _step_surfaces(step: Any) -> set[str]:
    if isinstance(step, WaitStep):
        return _step_surfaces(step.wait_until.step)
    if isinstance(step, OpStep):
        return {step.op}
    if isinstance(step, RequestStep):
        return {"http"}
    if isinstance(step, UiStep) and step.target:
        head = step.target.split(" >> ", 1)[0].split(".", 1)[0].strip()
        if head and "=" not in head and "/" not in head and "{" not in head:
            return {f"screen:{head}"}
    # a registered kind of step says where it looks (crmqa.migration: `migration:lead`)
    surfaces = getattr(step, "surfaces", None)
    return set(surfaces()) if callable(surfaces) else set()


class _SectionStep:
    """A case section (`load:`) as the one step it runs as, with its inner steps' surfaces."""

    def __init__(self, inner: list[Any]) -> None:
        self.inner = inner

    def surfaces(self) -> set[str]:
        return set().union(*(_step_surfaces(step) for step in self.inner))


def _section_steps(case: Any) -> list[_SectionStep]:
    """One step per case section, after the case's steps, as the engine runs them."""
    inner: dict[str, list[Any]] = {key: [] for key, _ in sections_of(case)}
    for path, step in section_steps(case):
        inner[str(path[0])].append(step)
    return [_SectionStep(steps) for steps in inner.values()]


def step_surfaces(case: LoadedCase) -> list[frozenset[str]]:
    """The surface of each step in run order (setup, steps, teardown), numbered as results
    number them; a UI step on a raw locator is on the screen opened last."""
    body = case.case
    out: list[frozenset[str]] = []
    screen: set[str] = set()
    for step in (*body.setup, *body.steps, *_section_steps(body), *body.teardown):
        found = _step_surfaces(step)
        if isinstance(step, UiStep):
            if found:
                screen = found
            found = found or screen
        out.append(frozenset(found))
    return out


def case_surfaces(case: LoadedCase) -> frozenset[str]:
    """The surfaces a case uses: its operations, the screens it acts on, `http`."""
    return frozenset().union(*step_surfaces(case))


def checking_surfaces(case: LoadedCase) -> frozenset[str]:
    """The surfaces of the case's own steps and sections (not its setup or teardown): where
    it checks."""
    surfaces = step_surfaces(case)
    first = len(case.case.setup)
    own = len(case.case.steps) + len(_section_steps(case.case))
    return frozenset().union(*surfaces[first:first + own])


def failing_step_surfaces(case: LoadedCase, result: CaseResult) -> frozenset[str] | None:
    """The surfaces of the first step that failed or broke, or None when no step did (a case
    blocked by a dependency, a failed clean-up)."""
    surfaces = step_surfaces(case)
    for step in result.steps:
        if step.outcome in (Outcome.FAILED, Outcome.BROKEN) and step.phase in (
                "setup", "step", "teardown") and 0 < step.number <= len(surfaces):
            return surfaces[step.number - 1] or None
    return None


def overlap(first: Fault, second: Fault) -> bool:
    """Do two faults show on a common surface (and so must not share a sandbox)?"""
    return bool(fault_surfaces(first) & fault_surfaces(second))


def group_faults(faults: Sequence[Fault]) -> list[list[Fault]]:
    """Faults in groups whose members share no surface (greedy colouring, most-constrained
    first, catalogue order otherwise, so that the grouping is the same on every run)."""
    degree = {f.name: sum(overlap(f, g) for g in faults if g is not f) for f in faults}
    order = sorted(faults, key=lambda f: -degree[f.name])
    groups: list[list[Fault]] = []
    for fault in order:
        for group in groups:
            if not any(overlap(fault, member) for member in group):
                group.append(fault)
                break
        else:
            groups.append([fault])
    position = {f.name: index for index, f in enumerate(faults)}
    for group in groups:
        group.sort(key=lambda f: position[f.name])
    return sorted(groups, key=lambda g: position[g[0].name])


def check_grouping(groups: Sequence[Sequence[Fault]]) -> None:
    """Raise AssertionError when two faults in one group share a surface."""
    for group in groups:
        for index, fault in enumerate(group):
            for other in group[index + 1:]:
                if overlap(fault, other):
                    raise AssertionError(f"{fault.name} and {other.name} share a surface")


def with_dependencies(plan: LoadedPlan, chosen: Iterable[str]) -> list[str]:
    """`chosen` case ids and every case they depend on, in the plan's run order."""
    by_id = {c.case.id: c for c in plan.cases}
    keep = {case_id for case_id in chosen if case_id in by_id}
    pending = list(keep)
    while pending:
        for dep in by_id[pending.pop()].case.depends_on:
            if dep not in keep and dep in by_id:
                keep.add(dep)
                pending.append(dep)
    return [c.case.id for c in plan.dependency_order() if c.case.id in keep]


def cases_for(plan: LoadedPlan, surfaces: frozenset[str]) -> list[str]:
    """Ids of the cases that use one of `surfaces`, and the cases they depend on."""
    return with_dependencies(plan, (c.case.id for c in plan.cases
                                    if case_surfaces(c) & surfaces))


def likelihood_order(plan: LoadedPlan, fault: Fault) -> list[str]:
    """The cases that use a surface of `fault`, those most likely to see it first.

    First the cases whose own steps (not only their setup) use the fault's surfaces and whose
    category is the fault's (a security fault, a security case), then the other cases whose
    steps use them, then those that only set up or tear down through them; within each tier
    the most focused cases (fewest surfaces) first, then the plan's order. A general prior:
    it knows nothing of which case caught what before.
    """
    surfaces = fault_surfaces(fault)
    ranked: list[tuple[int, int, int, str]] = []
    for index, loaded in enumerate(plan.cases):
        used = case_surfaces(loaded)
        if not used & surfaces:
            continue
        checks = bool(checking_surfaces(loaded) & surfaces)
        same_category = str(loaded.case.category.value) == fault.category
        tier = 0 if checks and same_category else 1 if checks else 2
        ranked.append((tier, len(used), index, loaded.case.id))
    return [case_id for *_, case_id in sorted(ranked)]
