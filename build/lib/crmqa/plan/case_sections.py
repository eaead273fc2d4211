"""Case sections: kinds of work a case does instead of a list of steps (`load:`, ...).

Not to be confused with plan sections (crmqa.plan.sections): those are top-level keys of a plan
(`migration:` describes one migration for the whole plan); a case section is a key of one case
(`load:` is that case's work: its scenarios, shape and SLOs, judged as that case's verdict).

A kind of work enters the plan language here, and only here: it registers a `CaseSection`
with its YAML key, its pydantic model (so that it is validated like the rest, with positions
and did-you-mean, and appears in the JSON Schema and the plan reference), the ordinary steps
written inside it (checked by the drivers before the first request, and asked of the target's
profile as capabilities) and the target flags it needs (`changes`, `load`). Its rules sit
beside the model as `@plan_rule`s; its runtime is a driver registered for the section's model
in `crmqa.drivers.registry` (a case's section is driven like one step); its evidence is the
attachments that driver returns. The loader, the engine and the reports only ever ask
`sections_of(case)`: they grow no `if` per kind.

Built-in kinds are named in `BUILTIN_SECTION_MODULES`; another package names its module in
the `crmqa.case_sections` entry-point group. A module registers its section as it is imported
(`register_section(CaseSection(...))`), exactly as crmqa's own do.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from crmqa.core.entry_points import entry_points

__all__ = [
    "BUILTIN_SECTION_MODULES",
    "ENTRY_POINT_GROUP",
    "CaseSection",
    "attach_sections",
    "is_section",
    "register_section",
    "registered_sections",
    "section_key",
    "section_steps",
    "sections_of",
]

#: Modules of crmqa's own case sections, imported (and so registered) when the models load.
BUILTIN_SECTION_MODULES: tuple[str, ...] = ("crmqa.load.model",)
#: Entry-point group of other packages' sections: each names a module that registers one.
ENTRY_POINT_GROUP = "crmqa.case_sections"

DataPath = tuple[str | int, ...]


def _nothing(section: Any) -> Iterator[Any]:
    return iter(())


@dataclass(frozen=True)
class CaseSection:
    """One kind of work a case may hold under `key` instead of (or besides) `steps`.

    `steps(section)` yields `(path inside the section, step)` for every ordinary plan step
    written in it (`OpStep`, `RequestStep`...): validation runs each driver's step checks on
    them, and the engine asks the profile for their operations and identities. `effects`
    yields the target flags the section needs (`changes`, `load`; see crmqa.plan.effects).
    """

    key: str
    model: type[BaseModel]
    description: str
    steps: Callable[[Any], Iterable[tuple[DataPath, Any]]] = field(default=_nothing)
    effects: Callable[[Any], Iterable[str]] = field(default=_nothing)


_SECTIONS: dict[str, CaseSection] = {}
_BY_MODEL: dict[type, CaseSection] = {}
# The case model sections are attached to, and the models that embed it (rebuilt after).
_host: tuple[type[BaseModel], tuple[type[BaseModel], ...]] | None = None
_providers_loaded = False


def register_section(section: CaseSection) -> None:
    """Register a case section (a module calls this as it is imported); later ones win."""
    _SECTIONS[section.key] = section
    _BY_MODEL[section.model] = section
    if _host is not None:
        _install(section)


def registered_sections() -> tuple[CaseSection, ...]:
    """Every registered section, in registration order."""
    return tuple(_SECTIONS.values())


def attach_sections(case_model: type[BaseModel], *embedding: type[BaseModel]) -> None:
    """Give `case_model` a field per registered section (and every later one).

    Called once by crmqa.plan.models with `Case` and the models that hold cases (`Suite`,
    `Plan`), which are rebuilt so that their validation and JSON Schema see the new keys.
    Built-in and entry-point section modules are imported here.
    """
    global _host, _providers_loaded
    _host = (case_model, embedding)
    for section in list(_SECTIONS.values()):
        _install(section)
    if _providers_loaded:
        return
    _providers_loaded = True
    for module in BUILTIN_SECTION_MODULES:
        # A module imported for the first time registers (and so installs) its section now;
        # one already being imported registers when its own import finishes.
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()


def _install(section: CaseSection) -> None:
    assert _host is not None
    case_model, embedding = _host
    info = FieldInfo.from_annotated_attribute(
        section.model | None,  # type: ignore[arg-type]
        Field(None, description=section.description),
    )
    case_model.model_fields[section.key] = info
    case_model.model_rebuild(force=True)
    for model in embedding:
        model.model_rebuild(force=True)


def sections_of(case: Any) -> list[tuple[str, BaseModel]]:
    """The sections a case holds, as (key, value), in registration order."""
    found = []
    for key in _SECTIONS:
        value = getattr(case, key, None)
        if value is not None:
            found.append((key, value))
    return found


def is_section(value: Any) -> bool:
    """True when `value` is a registered section's model instance (not an ordinary step)."""
    return type(value) in _BY_MODEL


def section_key(value: Any) -> str | None:
    """The YAML key of a section value (`load`), None for anything else."""
    section = _BY_MODEL.get(type(value))
    return section.key if section is not None else None


def section_steps(case: Any) -> Iterator[tuple[DataPath, Any]]:
    """Every ordinary step inside the case's sections, with its path inside the case."""
    for key, value in sections_of(case):
        section = _SECTIONS[key]
        for path, step in section.steps(value):
            yield (key, *path), step


def section_effects(case: Any) -> list[str]:
    """The target flags the case's sections need."""
    effects: list[str] = []
    for key, value in sections_of(case):
        effects.extend(_SECTIONS[key].effects(value))
    return effects
