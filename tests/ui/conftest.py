"""Fixtures for the UI driver's tests: the real sandbox, real Chromium, a minimal step context."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crmqa.drivers.base import StepOutput
from crmqa.drivers.ui.driver import UiDriver
from crmqa.drivers.ui.options import UiOptions
from crmqa.drivers.ui.targets import UiTarget
from crmqa.plan.models import UiStep
from crmqa.profiles.loader import resolve_profile
from crmqa.sandbox.testing import SandboxHandle

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FolderEvidence:
    """Evidence files under one folder, as the engine's evidence store keeps them."""

    run_dir: Path

    def path_for(self, name: str) -> Path:
        return self.run_dir / "evidence" / name


@dataclass
class CaseContext:
    """The smallest real StepContext: one per case run, as the engine makes them."""

    case_id: str
    evidence: FolderEvidence
    target: Any = None
    worker_id: str = "gw-test"
    created: list[tuple[str, Any, str]] = field(default_factory=list)
    values: list[dict[str, Any]] = field(default_factory=list)  # entered, per created record

    def track_created(self, entity: str, record_id: Any, identity: str, *,
                      values: dict[str, Any] | None = None) -> None:
        self.created.append((entity, record_id, identity))
        self.values.append(dict(values or {}))


def sandbox_ui_target(handle: SandboxHandle) -> UiTarget:
    """The sandbox as the UI driver sees it: its URL, the built-in screen map, admin's login."""
    profile = resolve_profile("sandbox", ROOT)
    users = {"default": "admin", "admin": "admin", "sales": "sales", "viewer": "viewer"}
    return UiTarget(
        base_url=handle.base_url,
        screens=profile.screens,
        credentials=lambda identity: (users[identity], handle.password),
        name="sandbox",
    )


Runner = Callable[..., StepOutput]
_case_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def ui_driver(sandbox: SandboxHandle) -> Iterator[UiDriver]:
    """One UI driver on the clean sandbox for the module (one browser, one login)."""
    driver = UiDriver(sandbox_ui_target(sandbox), UiOptions(timeout_s=3.0), base_dir=ROOT)
    yield driver
    driver.close()


@pytest.fixture
def run_steps(ui_driver: UiDriver, tmp_path: Path) -> Iterator[Callable[..., list[StepOutput]]]:
    """Run step dicts as one fresh case; returns the outputs, stopping at a failed check."""
    context = CaseContext(case_id=f"UI-TEST-{next(_case_numbers)}",
                          evidence=FolderEvidence(tmp_path))

    def run(*steps: dict[str, Any], stop_on_failure: bool = True) -> list[StepOutput]:
        outputs = []
        for raw in steps:
            output = ui_driver.run(UiStep.model_validate(raw), context)
            outputs.append(output)
            if stop_on_failure and any(not check.ok for check in output.checks):
                break
        return outputs

    yield run
    ui_driver.end_case()


def failed_messages(outputs: list[StepOutput]) -> list[str]:
    """Messages of the failed checks of all outputs."""
    return [c.message for o in outputs for c in o.checks if not c.ok]
