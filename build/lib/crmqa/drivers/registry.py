"""A small typed registry of step drivers.

Built-in drivers register exactly the way third-party ones do: a package exposes a
`register(registry: DriverRegistry) -> None` function, named in the `crmqa.drivers`
entry-point group (third parties) or in `BUILTIN_PROVIDERS` (crmqa's own). Each registration
says which plan step types the driver handles and how to build one driver per engine (that
is: per target and worker). Building must be cheap; a driver opens browsers or connections
on first use.

The factory and the step check may be given as `"module:function"` references: the module
is imported only when a plan has steps of the driver's types (its check at validation, its
factory when the engine needs the driver). Every pytest run and every xdist worker reads the
registry, and the browser, load, migration and fuzzing drivers pull in Playwright, Locust,
DuckDB and Schemathesis: a run of API cases must not pay for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from crmqa.core.entry_points import entry_points
from crmqa.core.errors import CrmqaError

if TYPE_CHECKING:
    from crmqa.drivers.base import StepCheckContext, StepDriver, StepProblem
    from crmqa.profiles.target import ResolvedTarget

EvidenceMode = Literal["on", "off", "retain-on-failure"]
EVIDENCE_MODES: tuple[str, ...] = ("on", "off", "retain-on-failure")

ENTRY_POINT_GROUP = "crmqa.drivers"
BUILTIN_PROVIDERS: tuple[str, ...] = (
    "crmqa.drivers.api", "crmqa.drivers.ui", "crmqa.drivers.questionnaire", "crmqa.migration",
    "crmqa.load", "crmqa.fuzzing",
)


class StepDefect(CrmqaError):
    """A step cannot run as written (bad arguments, a missing file): a test defect.

    Drivers raise it (or a subclass) so the engine reports the case as broken (test defect)
    instead of blaming the CRM.
    """


@dataclass
class DriverEnvironment:
    """What a driver factory gets: the target, the worker, and where files go."""

    target: ResolvedTarget
    worker_id: str
    run_dir: Path
    base_dir: Path  # the plan's folder: relative file paths in steps start here
    evidence: EvidenceMode = "retain-on-failure"
    options: dict[str, Any] = field(default_factory=dict)  # driver-specific settings
    plan: Any = None  # the validated plan (crmqa.plan.models.Plan): its sections, its data


DriverFactory = Callable[[DriverEnvironment], "StepDriver"]
# Finds what is wrong with one step on a target before anything runs (no network, no browser).
StepChecker = Callable[[Any, "StepCheckContext"], "list[StepProblem]"]


class DriverUnavailable(CrmqaError):
    """A registered driver's module cannot be imported (an optional dependency is missing)."""


@cache
def resolve_reference(reference: str) -> Any:
    """The object a `"module:attribute"` reference names, imported on first use."""
    module_name, _, attribute = reference.partition(":")
    if not attribute:
        raise ValueError(f"{reference!r}: write a reference as 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DriverUnavailable(f"{module_name} cannot be imported: {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise DriverUnavailable(f"{module_name} has no {attribute}") from None


@dataclass(frozen=True)
class DriverSpec:
    """One registered driver: its name, the step types it handles, its factory, and
    optionally a check of its steps that validation runs before the first request.

    `factory` and `check` resolve a `"module:function"` reference on first use.
    """

    name: str
    step_types: tuple[type, ...]
    factory_ref: DriverFactory | str
    check_ref: StepChecker | str | None = None

    @property
    def factory(self) -> DriverFactory:
        """The factory; importing its module now if it was registered by reference."""
        if isinstance(self.factory_ref, str):
            return cast(DriverFactory, resolve_reference(self.factory_ref))
        return self.factory_ref

    @property
    def check(self) -> StepChecker | None:
        """The step check, if any; importing its module now if registered by reference."""
        if isinstance(self.check_ref, str):
            return cast(StepChecker, resolve_reference(self.check_ref))
        return self.check_ref


class DriverRegistry:
    """Driver specs by name; the engine asks it which driver handles a step."""

    def __init__(self) -> None:
        self._specs: dict[str, DriverSpec] = {}

    def register(self, name: str, step_types: tuple[type, ...],
                 factory: DriverFactory | str, *, check: StepChecker | str | None = None,
                 ) -> None:
        """Register (or replace) a driver; later registrations of a name win.

        `factory` and `check` are callables or `"module:function"` references, imported
        only when a plan has steps of `step_types`.
        """
        self._specs[name] = DriverSpec(name=name, step_types=step_types, factory_ref=factory,
                                       check_ref=check)

    def specs(self) -> list[DriverSpec]:
        return list(self._specs.values())

    def spec_for(self, step: Any) -> DriverSpec:
        """The spec whose step types include `step`'s type (the last registered wins)."""
        for spec in reversed(self._specs.values()):
            if isinstance(step, spec.step_types):
                return spec
        raise CrmqaError(f"no driver handles {type(step).__name__} steps")


def _call_provider(registry: DriverRegistry, module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name == module_name:
            return  # an optional built-in that is not there
        raise
    register = getattr(module, "register", None)
    if callable(register):
        register(registry)


def load_registry(include_entry_points: bool = True) -> DriverRegistry:
    """A registry with the built-in drivers and those installed through entry points."""
    registry = DriverRegistry()
    for module_name in BUILTIN_PROVIDERS:
        _call_provider(registry, module_name)
    if include_entry_points:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            provider = entry.load()
            if callable(provider):
                provider(registry)
    return registry


_default: DriverRegistry | None = None


def default_registry() -> DriverRegistry:
    """The process-wide registry, loaded once."""
    global _default
    if _default is None:
        _default = load_registry()
    return _default
