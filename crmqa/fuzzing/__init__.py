"""Robustness fuzzing of a target's OpenAPI with Schemathesis: the `fuzz:` step kind.

A case with a `fuzz:` step (crmqa.fuzzing.step) reads the OpenAPI document the target
publishes and sends the requests Schemathesis generates from it; any 5xx answer fails the
step with the reproducing request as evidence (crmqa.fuzzing.driver). The step kind and its
driver register the way a third party's would: `step_kinds()` for crmqa.plan.step_kinds,
`register()` for crmqa.drivers.registry.
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
    from crmqa.fuzzing.driver import create_fuzz_driver
    from crmqa.fuzzing.step import FuzzStep

    registry.register("fuzz", (FuzzStep,), create_fuzz_driver)
