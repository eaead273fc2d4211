"""Robustness fuzzing of a target's OpenAPI with Schemathesis: the `fuzz:` step kind.

A case with a `fuzz:` step (crmqa.fuzzing.step) reads the OpenAPI document the target
publishes and sends the requests Schemathesis generates from it; a 5xx answer (and, as the
step asks, an answer off its declared schema or invalid input accepted) fails the step with
the reproducing request as evidence (crmqa.fuzzing.driver). Fuzzed writes reach only what
crmqa.fuzzing.records allows, and what they made is deleted when the case ends. The step kind
and its driver register the way a third party's would: `step_kinds()` for
crmqa.plan.step_kinds, `register()` for crmqa.drivers.registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmqa.drivers.registry import DriverRegistry


def step_kinds() -> list[object]:
    """The `fuzz:` step kind.

    Imported when the registry asks, not at import time: the registry is read while
    crmqa.plan.step_kinds itself is being imported.
    """
    from crmqa.fuzzing.step import FuzzStep
    from crmqa.plan.step_kinds import StepKind

    return [StepKind("fuzz", FuzzStep)]


def register(registry: DriverRegistry) -> None:
    """The fuzz driver for `fuzz:` steps."""
    from crmqa.fuzzing.step import FuzzStep

    registry.register("fuzz", (FuzzStep,), "crmqa.fuzzing.driver:create_fuzz_driver")
