"""plans/bottlecrm.yaml end to end: the same suites as the sandbox plan, on a real BottleCRM.

The plan runs through pytest in a subprocess, exactly as a user runs it. The run must end in
a verdict, no case may be broken (broken means crmqa or the profile is at fault, not
BottleCRM), and the failing cases must be exactly BottleCRM's real deviations from the
plan's requirements, listed in docs/targets.md ("Findings") with their evidence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .provision import BottleCrm

pytestmark = [pytest.mark.bottlecrm, pytest.mark.slow, pytest.mark.xdist_group("bottlecrm")]

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAN = REPO_ROOT / "plans" / "bottlecrm.yaml"

# BottleCRM's real deviations from the plan's requirements (docs/targets.md, "Findings").
EXPECTED_FAILED = {
    # A lead without e-mail is accepted (API 200; the admin form saves it too).
    ("LEAD-ADD-002", "email"),
    ("UI-LEAD-ADD-002", "email"),
    # Names of 51 characters are accepted: BottleCRM allows 255, the plan requires <= 50.
    ("LEAD-ADD-004", "first_name"),
    ("LEAD-ADD-004", "last_name"),
    # One bad row refuses the whole file (imported 0), the plan wants the good rows imported.
    ("LEAD-IMP-002", None),
    ("LEAD-IMP-003", None),
}

# Not applicable, each for a reason the profile or the target states.
EXPECTED_NOT_APPLICABLE = {
    "LEAD-SEARCH-006": "status 'qualified' has no equivalent",
    "UI-LEAD-ADD-001": "screen:lead_detail",
    "UI-LEAD-VIEW-001": "screen:lead_detail",
    "UI-LEAD-EDIT-001": "screen:lead_detail",
    "UI-LEAD-DEL-001": "screen:lead_detail",
    "UI-LEAD-XSS-001": "screen:lead_detail",
    "UI-LEAD-SEARCH-001": "screen:lead_list.search",
    "UI-LEAD-PAGE-001": "screen:lead_list.next",
    "UI-LEAD-IMP-001": "screen:lead_import",
    "UI-LEAD-EXP-001": "screen:lead_export",
    "SEC-ACL-001": "has no identity 'sales2'",
    "SEC-ACL-002": "has no identity 'viewer'",
}


def _key(case: dict[str, Any]) -> tuple[str, str | None]:
    params = case.get("params") or {}
    return case["case_id"], (next(iter(params.values())) if params else None)


@pytest.fixture(scope="module")
def plan_run(bottlecrm: BottleCrm, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run plans/bottlecrm.yaml once; the completed process and the run's report folder."""
    reports = tmp_path_factory.mktemp("bottlecrm-plan")
    env = {**os.environ, **bottlecrm.env()}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(PLAN), "--crmqa-reports", str(reports),
         "-p", "no:cacheprovider", "-q"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    verdicts = sorted(reports.glob("*/verdict.json"))
    assert verdicts, f"no verdict.json under {reports}:\n{completed.stdout[-3000:]}" \
                     f"\n{completed.stderr[-3000:]}"
    return completed, verdicts[-1].parent


def _cases(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line)
            for path in sorted((run_dir / "results").glob("cases-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_plan_ends_in_a_verdict(plan_run: tuple[subprocess.CompletedProcess[str], Path]
                                    ) -> None:
    completed, run_dir = plan_run
    verdict = json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))
    # Real deviations fail functional cases, so the gates reject; a verdict is what matters.
    assert verdict["decision"] == "REJECTED", verdict
    assert verdict["counts"]["broken"] == 0, verdict["counts"]
    assert completed.returncode != 0  # failed cases make pytest fail too


def test_no_case_is_broken_and_failures_are_the_known_deviations(
    plan_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, run_dir = plan_run
    cases = _cases(run_dir)
    assert len(cases) >= 50, len(cases)
    broken = [(c["case_id"], c.get("message")) for c in cases if c["outcome"] == "broken"]
    assert broken == []
    failed = {_key(c) for c in cases if c["outcome"] == "failed"}
    # Response-time cases measure this machine as much as BottleCRM: either way is fine.
    timing = {key for key in failed if key[0].startswith("PERF-")}
    assert failed - timing == EXPECTED_FAILED
    not_applicable = {c["case_id"]: c.get("message") or "" for c in cases
                      if c["outcome"] == "not_applicable"}
    assert set(not_applicable) == set(EXPECTED_NOT_APPLICABLE)
    for case_id, reason in EXPECTED_NOT_APPLICABLE.items():
        assert reason in not_applicable[case_id], (case_id, not_applicable[case_id])
    blocked = [c["case_id"] for c in cases if c["outcome"] == "blocked"]
    assert blocked == []


def test_the_role_case_and_the_must_pass_cases_pass(
    plan_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, run_dir = plan_run
    outcomes = {c["case_id"]: c["outcome"] for c in _cases(run_dir) if not c.get("params")}
    for case_id in ("SEC-ACL-010", "LEAD-ADD-001", "LEAD-SEARCH-001", "SEC-AUTH-001",
                    "SEC-AUTH-002", "SEC-CSV-001", "LEAD-EXP-001", "LEAD-IMP-001"):
        assert outcomes[case_id] == "passed", case_id
