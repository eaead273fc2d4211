"""suites/leads/ui.yaml from plans/sandbox.yaml through the engine: clean passes, faults fail.

Real sandbox, real Chromium, the real loader and engine; the reporter records what would
become Allure attachments.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from crmqa.core.results import CaseResult, Outcome
from crmqa.engine.engine import Engine
from crmqa.engine.reporter import RecordingReporter
from crmqa.plan.loader import load_plan
from crmqa.sandbox.testing import SandboxHandle

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "plans" / "sandbox.yaml"


def run_ui_cases(handle: SandboxHandle, run_dir: Path, monkeypatch: pytest.MonkeyPatch,
                 only: set[str] | None = None) -> tuple[dict[str, list[CaseResult]],
                                                        RecordingReporter]:
    """Run the plan's UI cases (every parameter set) against `handle`."""
    monkeypatch.setenv("CRMQA_SANDBOX_URL", handle.base_url)
    monkeypatch.setenv("CRMQA_SANDBOX_PASSWORD", handle.password)
    plan = load_plan(PLAN)
    reporter = RecordingReporter()
    engine = Engine(plan, None, run_dir, "gw-ui", reporter)
    results: dict[str, list[CaseResult]] = {}
    try:
        for loaded in plan.cases:
            case = loaded.case
            if not case.id.startswith("UI-") or (only and case.id not in only):
                continue
            for params in case.parameters or [{}]:
                results.setdefault(case.id, []).append(engine.run_case(loaded, params))
    finally:
        engine.close()
    return results, reporter


@pytest.mark.slow
def test_the_ui_suite_passes_on_the_clean_sandbox(
    sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = lead_total(sandbox)
    results, _ = run_ui_cases(sandbox, tmp_path, monkeypatch)
    assert len(results) >= 11  # add, validation, view, edit, delete, search, pages, import...
    not_passed = {case_id: [r.message for r in runs if r.outcome is not Outcome.PASSED]
                  for case_id, runs in results.items()}
    assert {k: v for k, v in not_passed.items() if v} == {}
    # every lead made (through the API, the form or the import) was deleted again
    assert [r.leftovers for runs in results.values() for r in runs if r.leftovers] == []
    assert lead_total(sandbox) == before


def lead_total(handle: SandboxHandle) -> int:
    """How many leads the sandbox holds, asked through its API as admin."""
    token = requests.post(f"{handle.base_url}/api/auth/token",
                          json={"username": "admin", "password": handle.password},
                          timeout=5).json()["access_token"]
    answer = requests.get(f"{handle.base_url}/api/leads", params={"page_size": 1},
                          headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    return int(answer["total"])


FAULTS = ["no_confirmation", "xss_lead_name", "missing_label"]
# case -> words its failure message must hold
CAUGHT = {
    "UI-LEAD-ADD-001": 'element "email" of screen "lead_form" (locator label=Email)',
    "UI-LEAD-EDIT-001": 'expected text "Lead updated"',
    "UI-LEAD-XSS-001": 'expected text "<b>bold</b>"',
}


@pytest.mark.slow
def test_seeded_ui_faults_fail_the_matching_cases_with_a_screenshot(
    sandbox_factory: Callable[..., SandboxHandle], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRMQA_UI_TIMEOUT", "2")  # a missing element fails in 2 s, not 5
    handle = sandbox_factory(FAULTS)
    results, reporter = run_ui_cases(handle, tmp_path, monkeypatch,
                                     only={*CAUGHT, "UI-LEAD-VIEW-001"})
    assert results["UI-LEAD-VIEW-001"][0].outcome is Outcome.PASSED
    for case_id, words in CAUGHT.items():
        [result] = results[case_id]
        assert result.outcome is Outcome.FAILED, (case_id, result.message)
        assert words in result.message
        failed_step = next(s for s in result.steps if s.outcome is Outcome.FAILED)
        shots = [a for a in failed_step.attachments if a.mime_type == "image/png"]
        assert shots and Path(shots[0].path or "").read_bytes()[:4] == b"\x89PNG"
        assert any(a.name == "playwright trace" for a in failed_step.attachments)
    # the same evidence went to the reporter (Allure, under the plugin)
    reported = [a for _, a in reporter.attachments if a.mime_type == "image/png"]
    assert len(reported) >= len(CAUGHT)
