"""The kinds of step a case may hold: one registry, built-ins and third parties alike.

A step says what it does by exactly one key: `op`, `request`, `ui`, `wait_until`,
`questionnaire`, or the key of a kind another package adds (a migration check, a fuzzing run).
Each kind is a `StepKind`: its key and its pydantic model (built on crmqa.plan.steps: `StepBase`
gives `name`, `expect`, `save`, `as`, ...). A package adds kinds through the `crmqa.step_kinds`
entry-point group, whose entries are a `StepKind`, a sequence of them, or a callable returning
either; crmqa's own kinds beyond the five built in here register the same way, in its
pyproject.toml (`migrate:`) or in `BUILTIN_KIND_PROVIDERS` below (`fuzz:`). The registry is
read once, when the plan models are built, so every kind takes part in validation, in the
positioned errors and in the JSON Schema editors use.

A kind's work is done by a driver registered for its model in crmqa.drivers.registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, Discriminator, Tag

from crmqa.core.entry_points import entry_points
from crmqa.plan.steps import (
    OpStep,
    QuestionnaireStep,
    RequestStep,
    UiStep,
    WaitStep,
    kind_of_step,
)

ENTRY_POINT_GROUP = "crmqa.step_kinds"


@dataclass(frozen=True)
class StepKind:
    """One kind of step: the YAML key that says a step is of this kind, and its model."""

    key: str
    model: type[BaseModel]


BUILTIN_KINDS: tuple[StepKind, ...] = (
    StepKind("op", OpStep),
    StepKind("request", RequestStep),
    StepKind("ui", UiStep),
    StepKind("wait_until", WaitStep),
    StepKind("questionnaire", QuestionnaireStep),
)


#: crmqa's own kinds that live in code rather than in an entry point (`module:function`, read
#: as an entry point's value is), so that an installed copy of crmqa need not be reinstalled
#: for them to appear.
BUILTIN_KIND_PROVIDERS: dict[str, str] = {"fuzz": "crmqa.fuzzing:step_kinds"}


def _provided(value: str) -> Any:
    module, _, attribute = value.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _entries(loaded: Any) -> Iterable[StepKind]:
    value = loaded() if callable(loaded) and not isinstance(loaded, StepKind) else loaded
    if isinstance(value, StepKind):
        return [value]
    return list(value)


@cache
def step_kinds() -> tuple[StepKind, ...]:
    """Every kind of step, the built-in ones first, then the registered ones by name.

    A registered kind whose key is taken, or whose model does not have that key as a field,
    is refused with an error naming the entry point: a broken plug-in must not change what
    the built-in keys mean.
    """
    kinds = list(BUILTIN_KINDS)
    # crmqa's own providers and the entry points, in one order: by name
    named: list[tuple[str, str, Any]] = [
        (name, value, lambda value=value: _provided(value))
        for name, value in BUILTIN_KIND_PROVIDERS.items()]
    named += [(entry.name, entry.value, entry.load)
              for entry in entry_points(group=ENTRY_POINT_GROUP)
              if entry.value not in BUILTIN_KIND_PROVIDERS.values()]
    for _name, source, load in sorted(named, key=lambda item: item[:2]):
        for kind in _entries(load()):
            taken = {k.key for k in kinds}
            if kind.key in taken:
                raise RuntimeError(f"step kind '{kind.key}' from entry point {source} "
                                   "is already defined")
            if kind.key not in kind.model.model_fields and not any(
                    f.alias == kind.key for f in kind.model.model_fields.values()):
                raise RuntimeError(f"step kind '{kind.key}' from entry point {source}: "
                                   f"{kind.model.__name__} has no field '{kind.key}'")
            kinds.append(kind)
    return tuple(kinds)


def _tags() -> dict[str, str]:
    return {kind.key: kind.model.__name__ for kind in step_kinds()}


STEP_KINDS: tuple[str, ...] = tuple(kind.key for kind in step_kinds())
"""The keys that say what a step does; a step has exactly one of them."""


def _step_union() -> Any:
    tags = _tags()
    members = tuple(Annotated[kind.model, Tag(kind.model.__name__)] for kind in step_kinds())
    listed = ", ".join(STEP_KINDS)
    return Annotated[
        Union[members],  # noqa: UP007 - a Union built from a tuple of registered kinds
        # The discriminator picks the kind from the key present, so a bad step gets one clear
        # error instead of one error per possible kind.
        Discriminator(
            lambda value: kind_of_step(value, tags),
            custom_error_type="step_kind",
            custom_error_message=f"a step needs exactly one of {listed}",
            custom_error_context={"kinds": listed},
        ),
    ]


if TYPE_CHECKING:  # what type checkers see; at run time the union holds every registered kind
    Step = OpStep | RequestStep | UiStep | WaitStep | QuestionnaireStep
else:
    Step = _step_union()
