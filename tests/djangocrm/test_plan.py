"""plans/djangocrm.yaml end to end: lead management judged through Django CRM's web pages.

Django CRM has no API. The run must end in a verdict with no case broken (broken means crmqa
or the profile is at fault), every API case not applicable for that reason, and the failing
cases exactly Django CRM's deviations from the plan's requirements, listed with their evidence
in docs/targets.md ("Django CRM: findings").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .provision import DjangoCrm

pytestmark = [pytest.mark.djangocrm, pytest.mark.slow, pytest.mark.xdist_group("djangocrm")]

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAN = REPO_ROOT / "plans" / "djangocrm.yaml"

# Django CRM's deviations (docs/targets.md, "Django CRM: findings", numbers in brackets).
EXPECTED_FAILED = {
    # [1] The last name is optional in Django CRM; the plan requires it.
    ("GEN-FIELD-lead-last_name-ui-empty", None),
    # [2] Names up to 100 characters are accepted; the plan allows 50.
    ("GEN-FIELD-lead-first_name-ui-over_max", None),
    ("GEN-FIELD-lead-last_name-ui-over_max", None),
    # [3] The e-mail input takes 200 characters and cuts longer input short, without a word.
    ("GEN-FIELD-lead-email-ui-max", None),
    ("GEN-FIELD-lead-email-ui-over_max", None),
    # [4] Phone numbers are free text: letters are saved.
    ("GEN-FIELD-lead-phone-ui-letters", None),
    # [5] Imported leads get no owner: the importing sales manager does not see them; and a
    # row whose e-mail is not an address is imported.
    ("DJ-LEAD-IMP-001", None),
    # [6] Export answers HTTP 500 to a user who owns no lead.
    ("DJ-LEAD-EXP-002", None),
    # [7] Search ignores letter case in ASCII only (SQLite here; a limit of this set-up).
    ("DJ-LEAD-SEARCH-001", "accented"),
}

MUST_PASS = ("DJ-LEAD-ADD-001", "DJ-LEAD-EDIT-001", "DJ-LEAD-DEL-001", "DJ-LEAD-EXP-001",
             "DJ-ROLE-001", "DJ-ROLE-002", "GEN-FIELD-lead-first_name-ui-max",
             "GEN-FIELD-lead-first_name-ui-empty", "GEN-FIELD-lead-email-ui-no_at",
             "GEN-FIELD-lead-email-ui-empty", "GEN-FIELD-lead-last_name-ui-max")


def _key(case: dict[str, Any]) -> tuple[str, str | None]:
    params = case.get("params") or {}
    return case["case_id"], (next(iter(params.values())) if params else None)


@pytest.fixture(scope="module")
def plan_run(djangocrm: DjangoCrm, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[subprocess.CompletedProcess[str], Path, float]:
    """Run plans/djangocrm.yaml once: the process, the run's report folder, its seconds."""
    reports = tmp_path_factory.mktemp("djangocrm-plan")
    # A loaded CI machine renders these admin pages slowly: the longest UI step bound.
    env = {**os.environ, **djangocrm.env(), "CRMQA_UI_TIMEOUT": "10"}
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(PLAN), "--crmqa-reports", str(reports),
         "-p", "no:cacheprovider", "-q", "-n", "2"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )
    elapsed = time.monotonic() - started
    print(f"plans/djangocrm.yaml ran in {elapsed:.0f} s; provisioning: "
          f"{djangocrm.timings}", file=sys.stderr)
    verdicts = sorted(reports.glob("*/verdict.json"))
    assert verdicts, f"no verdict.json under {reports}:\n{completed.stdout[-3000:]}" \
                     f"\n{completed.stderr[-3000:]}"
    return completed, verdicts[-1].parent, elapsed


def _cases(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line)
            for path in sorted((run_dir / "results").glob("cases-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_plan_ends_in_a_verdict_and_leaves_nothing_behind(
    plan_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, run_dir, _ = plan_run
    verdict = json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))
    assert verdict["decision"] == "REJECTED", verdict
    assert verdict["counts"]["broken"] == 0, verdict["counts"]
    assert completed.returncode != 0
    assert not verdict["left_behind"], verdict["left_behind"]


def test_failures_are_the_known_deviations_and_api_cases_are_not_applicable(
    plan_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    _, run_dir, _ = plan_run
    cases = _cases(run_dir)
    broken = [(c["case_id"], c.get("message")) for c in cases if c["outcome"] == "broken"]
    assert broken == []
    assert [c["case_id"] for c in cases if c["outcome"] == "blocked"] == []
    failed = {_key(c) for c in cases if c["outcome"] == "failed"}
    assert failed == EXPECTED_FAILED
    not_applicable = [c for c in cases if c["outcome"] == "not_applicable"]
    assert len(not_applicable) >= 25  # suites/leads/functional.yaml, all through the API
    assert all("no API" in (c.get("message") or "") for c in not_applicable), [
        (c["case_id"], c.get("message")) for c in not_applicable
        if "no API" not in (c.get("message") or "")]
    outcomes = {c["case_id"]: c["outcome"] for c in cases if not c.get("params")}
    for case_id in MUST_PASS:
        assert outcomes[case_id] == "passed", case_id


def test_the_import_finding_holds_both_failed_checks(
    plan_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    """The import is awaited (wait_until on the list), then both deviations are recorded."""
    _, run_dir, _ = plan_run
    imported = next(c for c in _cases(run_dir) if c["case_id"] == "DJ-LEAD-IMP-001")
    waited = [s for s in imported["steps"] if s["kind"] == "wait_until"]
    assert [s["outcome"] for s in waited] == ["passed"]
    failed = [s for s in imported["steps"] if s["outcome"] == "failed"]
    assert len(failed) == 2, [(s["name"], s["message"]) for s in failed]
