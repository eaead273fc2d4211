"""Third-party drivers plug in through the registry exactly like the built-in ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crmqa.core.results import CheckResult, Outcome
from crmqa.drivers.base import StepOutput
from crmqa.drivers.registry import (
    DriverEnvironment,
    DriverRegistry,
    DriverUnavailable,
    load_registry,
    resolve_reference,
)
from crmqa.engine import Engine
from crmqa.plan.loader import load_plan
from crmqa.plan.models import OpStep, RequestStep, UiStep

PLAN = """\
id: registry
name: Registry
system: {name: x}
target: t
targets:
  t:
    profile: sandbox
    base_url: http://127.0.0.1:9
    destructive_ok: true
    identities:
      default: {default_username: sales}
      admin: {default_username: admin}
cases:
  - id: UI-OK
    title: a screen the profile has
    steps:
      - {ui: open, target: lead_list}
      - {ui: expect_text, target: lead_list, value: Leads}
  - id: UI-MISSING
    title: a screen the profile lacks
    steps:
      - {ui: open, target: mass_mail}
"""


class RecordingDriver:
    """A driver for UI steps that fails `expect_text` and creates a record on `open`."""

    name = "recording"
    instances: list[RecordingDriver] = []

    def __init__(self, env: DriverEnvironment) -> None:
        self.env = env
        self.cleaned: list[tuple[str, Any, str]] = []
        self.closed = False
        RecordingDriver.instances.append(self)

    def handles(self, step: Any) -> bool:
        return isinstance(step, UiStep)

    def needs(self, step: Any) -> list[str]:
        return [f"screen:{step.target.split('.')[0]}"] if step.target else []

    def run(self, step: Any, ctx: Any) -> StepOutput:
        if step.ui == "open":
            ctx.track_created("lead", 42, "default")
            return StepOutput(summary=f"open {step.target}")
        check = CheckResult(name="text", ok=False, expected=step.value, actual="Contacts",
                            message=f"text: expected {step.value!r}, got 'Contacts'")
        return StepOutput(checks=[check], summary="page /leads")

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        self.cleaned.append((entity, record_id, identity))

    def close(self) -> None:
        self.closed = True


def test_builtin_registry_has_the_api_driver():
    registry = load_registry(include_entry_points=False)
    assert registry.spec_for(OpStep(op="lead.get")).name == "api"
    step = RequestStep.model_validate({"request": {"path": "/x"}})
    assert registry.spec_for(step).name == "api"


def test_a_registered_driver_runs_checks_needs_and_cleanup(tmp_path: Path):
    (tmp_path / "plan.yaml").write_text(PLAN)
    loaded = load_plan(tmp_path / "plan.yaml")
    registry = load_registry(include_entry_points=False)
    registry.register("recording", (UiStep,), RecordingDriver)
    engine = Engine(loaded, None, tmp_path / "run", "w", registry=registry)
    try:
        failed = engine.run_case(loaded.case("UI-OK"))
        missing = engine.run_case(loaded.case("UI-MISSING"))
    finally:
        engine.close()
    assert failed.outcome is Outcome.FAILED
    assert failed.message == ("step 2 (ui expect_text lead_list): text: expected 'Leads', "
                              "got 'Contacts' — page /leads")
    driver = RecordingDriver.instances[-1]
    assert driver.cleaned == [("lead", 42, "admin")]  # deleted as the admin identity
    assert driver.closed
    assert missing.outcome is Outcome.NOT_APPLICABLE
    assert "does not support screen:mass_mail" in missing.message


def test_registry_without_a_driver_for_a_step_kind(tmp_path: Path):
    (tmp_path / "plan.yaml").write_text(PLAN)
    loaded = load_plan(tmp_path / "plan.yaml")
    engine = Engine(loaded, None, tmp_path / "run", "w", registry=DriverRegistry())
    result = engine.run_case(loaded.case("UI-OK"))
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert result.message == "no driver is installed for ui steps"


def test_a_driver_registered_by_reference_is_imported_only_when_a_step_needs_it(
        tmp_path: Path):
    (tmp_path / "plan.yaml").write_text(PLAN)
    loaded = load_plan(tmp_path / "plan.yaml")
    registry = DriverRegistry()
    # a module that is not installed: registering it and running other steps never import it
    registry.register("ui", (UiStep,), "crmqa_no_such_driver:create", check="nowhere:check")
    registry.register("recording", (OpStep,), f"{__name__}:RecordingDriver")
    spec = registry.spec_for(OpStep(op="lead.get"))
    assert spec.factory is RecordingDriver
    assert spec.check is None
    ui = registry.spec_for(UiStep.model_validate({"ui": "open", "target": "lead_list"}))
    with pytest.raises(DriverUnavailable, match="crmqa_no_such_driver cannot be imported"):
        ui.factory  # noqa: B018 (the property imports)
    # a case of the steps it would run is not applicable, not broken
    engine = Engine(loaded, None, tmp_path / "run", "w", registry=registry)
    result = engine.run_case(loaded.case("UI-OK"))
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert result.message == "no driver is installed for ui steps"


def test_the_builtin_drivers_are_registered_by_reference():
    registry = load_registry(include_entry_points=False)
    assert {spec.name for spec in registry.specs()} >= {"api", "ui", "load", "migration",
                                                         "fuzz", "questionnaire"}
    by_reference = [spec for spec in registry.specs() if isinstance(spec.factory_ref, str)]
    assert {spec.name for spec in by_reference} >= {"api", "ui", "load", "migration", "fuzz"}
    assert resolve_reference("crmqa.drivers.ui.driver:create_ui_driver") is (
        registry.spec_for(UiStep.model_validate({"ui": "open", "target": "x"})).factory)
