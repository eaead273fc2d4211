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
    # Generated cases (docs/targets.md, findings 7-17).
    # 7: a lead without e-mail: left out, empty or only spaces, all accepted (finding 1).
    ("GEN-FIELD-lead-email-missing", None),
    ("GEN-FIELD-lead-email-empty", None),
    ("GEN-FIELD-lead-email-whitespace", None),
    # 8: first and last name are refused when empty, but a request without them is accepted.
    ("GEN-FIELD-lead-first_name-missing", None),
    ("GEN-FIELD-lead-last_name-missing", None),
    # 9: BottleCRM's own length limits are longer than the plan's (finding 3).
    ("GEN-FIELD-lead-first_name-over_max", None),
    ("GEN-FIELD-lead-last_name-over_max", None),
    ("GEN-FIELD-lead-company-over_max", None),
    ("GEN-FIELD-lead-title-over_max", None),
    ("GEN-FIELD-lead-notes-over_max", None),
    # 10: import: all or nothing (finding 4), and no length or name checks (finding 5).
    ("GEN-FIELD-lead-email-import", None),
    ("GEN-FIELD-lead-phone-import", None),
    ("GEN-FIELD-lead-source-import", None),
    ("GEN-FIELD-lead-first_name-import", None),
    ("GEN-FIELD-lead-last_name-import", None),
    ("GEN-FIELD-lead-company-import", None),
    ("GEN-FIELD-lead-title-import", None),
    ("GEN-FIELD-lead-notes-import", None),
    # 11: a lead created without a status has none (the plan: it starts as new).
    ("GEN-FLOW-lead_status-initial", None),
    # 12: any open lead can be converted (no `qualified` state).
    ("GEN-FLOW-lead_status-new-converted", None),
    ("GEN-FLOW-lead_status-contacted-converted", None),
    ("GEN-FLOW-lead_status-unqualified-converted", None),
    ("GEN-DT-convert_lead-admin-own-new", None),
    ("GEN-DT-convert_lead-admin-own-contacted", None),
    ("GEN-DT-convert_lead-admin-own-unqualified", None),
    ("GEN-DT-convert_lead-admin-other-new", None),
    ("GEN-DT-convert_lead-admin-other-contacted", None),
    ("GEN-DT-convert_lead-admin-other-unqualified", None),
    ("GEN-DT-convert_lead-sales-own-new", None),
    ("GEN-DT-convert_lead-sales-own-contacted", None),
    ("GEN-DT-convert_lead-sales-own-unqualified", None),
    # 13: a lead can be created already converted.
    ("GEN-FLOW-lead_status-create-converted", None),
    # 14: closed (canonical unqualified) leads are not in the lead list.
    ("GEN-LIST-lead-filter-status", None),
    ("GEN-LIST-lead-filter-pairwise", None),
    # 15: search ignores letter case in ASCII only (Django's icontains on SQLite).
    ("GEN-LIST-lead-search-first_name-case-latin", None),
    ("GEN-LIST-lead-search-first_name-case-cyrillic", None),
    ("GEN-LIST-lead-search-first_name-case-greek", None),
    ("GEN-LIST-lead-search-last_name-case-latin", None),
    ("GEN-LIST-lead-search-last_name-case-cyrillic", None),
    ("GEN-LIST-lead-search-last_name-case-greek", None),
    ("GEN-LIST-lead-search-company-case-latin", None),
    ("GEN-LIST-lead-search-company-case-cyrillic", None),
    ("GEN-LIST-lead-search-company-case-greek", None),
    # 16: only an ADMIN may import.
    ("GEN-PERM-lead-sales-import", None),
    # 17: the export guards phones with ', has no notes column, and shows source labels.
    ("GEN-READ-lead-export", None),
    # 18: a refused admin form's "Please correct the errors below." is in no live region.
    ("UX-LEAD-ERRORS-001", None),
}

_QUALIFIED = "status 'qualified' has no equivalent"

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
    # suites/ux: every task that reads a lead's page (UX-LEAD-ERRORS-001 runs and fails).
    "UX-LEAD-TASK-001": "screen:lead_detail",
    "UX-LEAD-A11Y-001": "screen:lead_detail",
    "UX-LEAD-FEEDBACK-001": "screen:lead_detail",
    "UX-LEAD-KEYS-001": "screen:lead_detail",
    "UX-LEAD-VIEW-001": "screen:lead_detail",
    "SEC-ACL-001": "has no identity 'sales2'",
    "SEC-ACL-002": "has no identity 'viewer'",
    # Generated: cases that need a qualified lead, or the lead's page in the UI.
    **{f"GEN-DT-convert_lead-{who}-qualified": _QUALIFIED
       for who in ("admin-own", "admin-other", "sales-own", "sales-other")},
    **{f"GEN-FLOW-lead_status-{move}": _QUALIFIED for move in (
        "create-qualified", "new-qualified", "contacted-qualified", "unqualified-qualified",
        "qualified-new", "qualified-contacted", "qualified-unqualified", "qualified-converted",
        "qualified-converted-by-update", "converted-new", "converted-contacted",
        "converted-qualified", "converted-unqualified")},
    **{f"GEN-PERM-lead-{who}-ui-{whose}": "screen:lead_detail"
       for who in ("admin", "sales") for whose in ("own", "other")},
}


def _only_slow(message: str) -> bool:
    """A failure whose one failed check is a response-time budget."""
    return "response time: expected" in message and "more failed checks" not in message


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
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500, check=False,
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
    assert len(cases) >= 250, len(cases)  # 54 written, 206 generated
    broken = [(c["case_id"], c.get("message")) for c in cases if c["outcome"] == "broken"]
    assert broken == []
    failed = {_key(c) for c in cases if c["outcome"] == "failed"}
    # Response-time cases measure this machine as much as BottleCRM: either way is fine.
    # So do the plan's default budgets (response_times) on other cases' steps.
    timing = {_key(c) for c in cases if c["outcome"] == "failed" and (
        c["case_id"].startswith("PERF-") or _only_slow(c.get("message") or ""))}
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
                    "SEC-AUTH-002", "SEC-CSV-001", "LEAD-EXP-001", "LEAD-IMP-001",
                    # generated: the role matrix where BottleCRM meets it, read-back, pages
                    "GEN-PERM-lead-sales-read-other", "GEN-PERM-lead-sales-update-other",
                    "GEN-PERM-lead-sales-delete-other", "GEN-PERM-lead-anonymous-delete-other",
                    "GEN-READ-lead-update-phone", "GEN-READ-lead-convert", "GEN-LIST-lead-pages",
                    "GEN-LIST-lead-deleted", "GEN-FIELD-lead-email-duplicate"):
        assert outcomes[case_id] == "passed", case_id
