"""Sections a plan may have beyond the built-in ones: one registry, as for step kinds.

A package that brings a new kind of work (a data migration to reconcile, a load scenario) adds
a top-level plan section through the `crmqa.plan_sections` entry-point group: a `PlanSection`
(its key, its pydantic model, one line for the reference), a sequence of them, or a callable
returning either. The plan model is built once with every registered section as an optional
key, so a section is validated, positioned and in the JSON Schema like the built-in keys;
code reads it with `plan.section("migration")`. crmqa's own sections register the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, Field, create_model

from crmqa.core.entry_points import entry_points

ENTRY_POINT_GROUP = "crmqa.plan_sections"
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class PlanSection:
    """One top-level section of a plan: its key, its model, and what it is for."""

    key: str
    model: type[BaseModel]
    description: str


def _entries(loaded: Any) -> Iterable[PlanSection]:
    value = loaded() if callable(loaded) and not isinstance(loaded, PlanSection) else loaded
    return [value] if isinstance(value, PlanSection) else list(value)


@cache
def plan_sections() -> tuple[PlanSection, ...]:
    """Every registered section, by entry-point name."""
    found: list[PlanSection] = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        for section in _entries(entry.load()):
            if any(other.key == section.key for other in found):
                raise RuntimeError(f"plan section '{section.key}' from entry point "
                                   f"{entry.value} is already defined")
            found.append(section)
    return tuple(found)


def with_sections(base: type[ModelT], name: str) -> type[ModelT]:
    """`base` with every registered section as an optional key (None when not written)."""
    taken = {info.alias or field for field, info in base.model_fields.items()}
    fields: dict[str, Any] = {}
    for section in plan_sections():
        if section.key in taken:
            raise RuntimeError(f"plan section '{section.key}' clashes with a built-in key")
        fields[section.key] = (section.model | None,
                               Field(None, description=section.description))
    return create_model(name, __base__=base, __doc__=base.__doc__, **fields)
