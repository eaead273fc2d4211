"""The registry of case generators: each reads one section of the plan's `generate:`.

A generator is a plug-in, registered the way plan rules and drivers are: crmqa's own modules
are named in `BUILTIN_GENERATOR_MODULES`, another package's in the `crmqa.generators`
entry-point group (a module that registers its generators as it is imported, or a
`Generator`). Each declares:

- `key`: its name under `generate:` in a plan (`lists`, `permissions`, ...);
- `section`: the pydantic model of its section (unknown keys refused, so a misspelt setting is
  a positioned error with "did you mean"); the model also gives the JSON Schema;
- `generate(context, section)`: the cases it makes, as plain mappings shaped exactly like
  written cases (they are validated by the same `Case` model and the same plan rules);
- optionally `transform(context, section, case)`: a change to every case of the plan (written
  and generated), such as a default response-time budget on steps that have none.

A generator runs when its key is in `generate:`; `key: false` (or `enabled: false` in its
section) switches it off.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from crmqa.core.entry_points import entry_points

if TYPE_CHECKING:
    from crmqa.plan.generators.context import GenerationContext
    from crmqa.plan.models import Case

__all__ = [
    "BUILTIN_GENERATOR_MODULES",
    "ENTRY_POINT_GROUP",
    "Generator",
    "SectionBase",
    "register_generator",
    "registered_generators",
    "sections_json_schema",
    "sections_model",
]


class SectionBase(BaseModel):
    """What every generator section has: unknown keys refused, and a switch."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    enabled: bool = Field(True, description="false: this generator makes no cases")
    skip: list[str] = Field(
        default_factory=list,
        description="ids of generated cases to leave out (glob patterns: GEN-PERM-*-delete-*)",
    )

    def skips(self, case_id: str) -> bool:
        """True when `skip` leaves the case with this id out."""
        return any(fnmatch.fnmatchcase(case_id, pattern) for pattern in self.skip)


RawCase = dict[str, Any]
GenerateFn = Callable[["GenerationContext", Any], Iterable[RawCase]]
TransformFn = Callable[["GenerationContext", Any, "Case"], "Case"]


@dataclass(frozen=True)
class Generator:
    """One registered generator: its plan key, its section model, what it makes."""

    key: str
    section: type[SectionBase]
    generate: GenerateFn
    summary: str
    transform: TransformFn | None = None


_GENERATORS: dict[str, Generator] = {}
#: crmqa's own generators, imported (and so registered) in this order.
BUILTIN_GENERATOR_MODULES: tuple[str, ...] = (
    "crmqa.plan.generators.fields",
    "crmqa.plan.generators.read_back",
    "crmqa.plan.generators.lists",
    "crmqa.plan.generators.permissions",
    "crmqa.plan.generators.workflows",
    "crmqa.plan.generators.decisions",
    "crmqa.plan.generators.lockout",
    "crmqa.plan.generators.csrf",
    "crmqa.plan.generators.budgets",
)
#: Entry-point group of other packages' generators: a module, or a `Generator`.
ENTRY_POINT_GROUP = "crmqa.generators"
_providers_loaded = False


def register_generator(generator: Generator) -> Generator:
    """Register `generator` (built-ins use this too); a later one with the same key wins."""
    _GENERATORS[generator.key] = generator
    _sections_model_cache.clear()
    return generator


def registered_generators() -> dict[str, Generator]:
    """Every registered generator by key, in registration order (built-ins first)."""
    global _providers_loaded
    if not _providers_loaded:
        _providers_loaded = True
        for module in BUILTIN_GENERATOR_MODULES:
            importlib.import_module(module)
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            provided = entry.load()  # a module registers its generators as it is imported
            if isinstance(provided, Generator):
                register_generator(provided)
    # Built-ins in their listed order whatever imported them first (cases are collected in
    # this order, and every xdist worker must collect the same), then the others.
    rank = {module: index for index, module in enumerate(BUILTIN_GENERATOR_MODULES)}
    ordered = sorted(_GENERATORS.values(),
                     key=lambda g: rank.get(getattr(g.generate, "__module__", ""), len(rank)))
    return {generator.key: generator for generator in ordered}


_sections_model_cache: dict[str, type[BaseModel]] = {}


def sections_model() -> type[BaseModel]:
    """The model of the whole `generate:` mapping: one optional field per generator.

    A section is its model, `true` (the defaults) or `false` (switched off).
    """
    cached = _sections_model_cache.get("model")
    if cached is not None:
        return cached
    fields: dict[str, Any] = {
        key: (
            generator.section | bool | None,
            Field(None, description=generator.summary),
        )
        for key, generator in registered_generators().items()
    }
    model = create_model(  # type: ignore[call-overload]
        "Generate",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Generated test design: which generators run, and what each reads.",
        **fields,
    )
    _sections_model_cache["model"] = model
    return model  # type: ignore[no-any-return]


def sections_json_schema(ref_template: str) -> dict[str, Any]:
    """The JSON Schema of `generate:`, its definitions kept beside it (`ref_template`)."""
    schema = sections_model().model_json_schema(by_alias=True, ref_template=ref_template)
    schema["description"] = (
        "generated test design: generator name -> its section (false switches one off); "
        "see docs/test-design.md and `crmqa expand`"
    )
    return schema
