"""A default response-time budget per operation, on every step without a budget of its own.

    response_times:
      default_ms: 2000
      operations: {search: 1000, lead.import: 5000}   # operation, or entity.operation
      requests_ms: 2000                               # raw HTTP requests

This generator makes no cases: it gives every canonical operation and raw request step of
every case (written and generated, setup and teardown included) an `expect.max_ms`, unless
the step has one. The check is an ordinary expectation, reported like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from crmqa.plan.canonical import ENTITIES, OPERATIONS
from crmqa.plan.generators.context import GenerationContext
from crmqa.plan.generators.problems import GenerationProblem
from crmqa.plan.generators.registry import Generator, SectionBase, register_generator
from crmqa.plan.issues import did_you_mean
from crmqa.plan.models import Case, OpStep, RequestStep

__all__ = ["BudgetsSection", "budget_for"]


class BudgetsSection(SectionBase):
    """Default response-time budgets."""

    default_ms: float | None = Field(
        None, gt=0, description="budget of every operation not named in `operations`")
    operations: dict[str, float] = Field(
        default_factory=dict,
        description="operation (search) or entity.operation (lead.search) -> budget in ms")
    requests_ms: float | None = Field(None, gt=0, description="budget of raw HTTP requests")


def budget_for(section: BudgetsSection, operation: str) -> float | None:
    """The budget of `entity.operation`: its own, its operation's, or the default."""
    verb = operation.split(".", 1)[-1]
    return section.operations.get(operation, section.operations.get(verb, section.default_ms))


def _check(section: BudgetsSection) -> None:
    known = [*OPERATIONS, *(f"{e}.{o}" for e in ENTITIES for o in OPERATIONS)]
    for key, value in section.operations.items():
        if key not in known:
            raise GenerationProblem(f"'{key}' is not an operation", ("operations", key),
                                    did_you_mean(key, known))
        if value <= 0:
            raise GenerationProblem("a budget is a positive number of milliseconds",
                                    ("operations", key))


def generate(context: GenerationContext, section: BudgetsSection) -> Iterator[dict[str, Any]]:
    """No cases; the section is checked here so its mistakes are positioned."""
    _check(section)
    return iter(())


def _with_budget(step: Any, budget: float | None) -> Any:
    if budget is None or step.expect.max_ms is not None:
        return step
    # model_copy marks the updated keys as set, so the engine's re-validation after
    # templating (which reads only the fields set) keeps the budget.
    return step.model_copy(update={"expect": step.expect.model_copy(update={"max_ms": budget})})


def transform(context: GenerationContext, section: BudgetsSection, case: Case) -> Case:
    """The case with a budget on each operation and request step that has none."""
    changed: dict[str, list[Any]] = {}
    for phase in ("setup", "steps", "teardown"):
        steps = getattr(case, phase)
        new = []
        for step in steps:
            if isinstance(step, OpStep):
                step = _with_budget(step, budget_for(section, step.op))
            elif isinstance(step, RequestStep):
                step = _with_budget(step, section.requests_ms)
            new.append(step)
        if any(a is not b for a, b in zip(new, steps, strict=True)):
            changed[phase] = new
    return case.model_copy(update=changed) if changed else case


register_generator(Generator(
    key="response_times",
    section=BudgetsSection,
    generate=generate,
    summary="a default response-time budget per operation on every step without one",
    transform=transform,
))
