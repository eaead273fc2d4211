"""Expansion: the plan's `generate:` sections -> validated, positioned, ordinary cases.

Runs inside `load_plan`, before the plan rules, so that generated cases meet every rule a
written case meets (unique ids, severity levels, templates, saved values) and may be named by
`must_pass`, waivers and `depends_on`. Expansion is deterministic: the same plan gives the same
cases with the same ids, in the same order, in every process (xdist workers expand on their
own and must agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from crmqa.core.errors import PlanIssue
from crmqa.plan.generators.context import GenerationContext
from crmqa.plan.generators.problems import GenerationProblem
from crmqa.plan.generators.registry import Generator, registered_generators, sections_model
from crmqa.plan.issues import issues_from_validation
from crmqa.plan.models import Case, Plan
from crmqa.plan.sources import CaseSource
from crmqa.plan.yaml_source import PositionMap

__all__ = ["Expansion", "expand_plan", "generated_cases"]

GENERATE_KEY = "generate"
CaseTransform = Callable[[Case], Case]


@dataclass
class Expansion:
    """What expanding a plan gives: the generated cases, problems, and case transforms."""

    cases: list[CaseSource] = field(default_factory=list)
    issues: list[PlanIssue] = field(default_factory=list)
    transforms: list[CaseTransform] = field(default_factory=list)

    def apply_transforms(self, sources: list[CaseSource]) -> None:
        """Let every transform change every case that validated (written and generated)."""
        if not self.transforms:
            return
        for source in sources:
            if source.model is None:
                continue
            for transform in self.transforms:
                source.model = transform(source.model)


_wrapper_cache: dict[type[BaseModel], type[BaseModel]] = {}


def _wrapper() -> type[BaseModel]:
    """A model holding only `generate`, so that issues are positioned as in the plan file."""
    sections = sections_model()
    wrapper = _wrapper_cache.get(sections)
    if wrapper is None:
        wrapper = create_model(  # type: ignore[call-overload]
            "Plan", __config__=ConfigDict(extra="ignore"), generate=(sections, ...))
        _wrapper_cache.clear()
        _wrapper_cache[sections] = wrapper
    return wrapper


def _sections(data: dict[str, Any], positions: PositionMap
              ) -> tuple[BaseModel | None, list[PlanIssue]]:
    raw = data.get(GENERATE_KEY)
    wrapper = _wrapper()
    try:
        parsed = wrapper.model_validate({GENERATE_KEY: raw})
    except ValidationError as error:
        return None, issues_from_validation(error, wrapper, {GENERATE_KEY: raw}, positions)
    sections: BaseModel = parsed.generate  # type: ignore[attr-defined]
    return sections, []


def expand_plan(data: Any, positions: PositionMap, plan: Plan | None) -> Expansion:
    """The cases the plan's generators make (as `CaseSource`s), and every problem found.

    Sections are checked even when the rest of the plan did not validate; cases are made
    only from a valid plan (a generator reads the requirements, the targets' identities...).
    """
    expansion = Expansion()
    if not isinstance(data, dict) or not data.get(GENERATE_KEY):
        return expansion
    sections, issues = _sections(data, positions)
    expansion.issues.extend(issues)
    if sections is None or plan is None:
        return expansion
    context = GenerationContext.for_plan(plan)
    for key, generator in registered_generators().items():
        section = _section(generator, getattr(sections, key, None))
        if section is None:
            continue
        where = (GENERATE_KEY, key)
        try:
            raws = list(generator.generate(context, section))
        except GenerationProblem as problem:
            expansion.issues.append(positions.issue(
                problem.message, (*where, *problem.where), suggestion=problem.suggestion))
            continue
        except Exception as exc:  # a plug-in's bug is reported at its section, not a traceback
            expansion.issues.append(positions.issue(
                f"generator '{key}' failed: {type(exc).__name__}: {exc}", where))
            continue
        raws = [raw for raw in raws if not section.skips(str(raw.get("id")))]
        expansion.cases.extend(_sources(raws, where, positions, key, expansion.issues))
        if generator.transform is not None:
            expansion.transforms.append(partial(generator.transform, context, section))
    return expansion


def _section(generator: Generator, value: Any) -> Any:
    """The generator's section to run with, or None when it is absent or switched off."""
    if value is None or value is False:
        return None
    section = generator.section() if value is True else value
    return section if section.enabled else None


def _sources(raws: list[dict[str, Any]], where: tuple[str, str], positions: PositionMap,
             key: str, issues: list[PlanIssue]) -> list[CaseSource]:
    sources = []
    for raw in raws:
        source = CaseSource(raw, where, positions, generator=key)
        try:
            source.model = Case.model_validate(raw)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            loc = ".".join(str(part) for part in first["loc"])
            issues.append(positions.issue(
                f"generator '{key}' made an invalid case {raw.get('id')!r}: {loc}: "
                f"{first['msg']}", where))
            continue
        sources.append(source)
    return sources


def generated_cases(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Generator key -> the raw cases it makes for a valid `plan` (for `crmqa expand`)."""
    context = GenerationContext.for_plan(plan)
    raw_sections = plan.generate
    out: dict[str, list[dict[str, Any]]] = {}
    if not raw_sections:
        return out
    sections = sections_model().model_validate(raw_sections)
    for key, generator in registered_generators().items():
        section = _section(generator, getattr(sections, key, None))
        if section is not None:
            out[key] = [raw for raw in generator.generate(context, section)
                        if not section.skips(str(raw.get("id")))]
    return out
