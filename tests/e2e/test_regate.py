"""`crmqa gates RUN` through the real CLI: an old run re-evaluated leaves the campaign alone.

The run folders are written with crmqa's own models (run.json and results/*.jsonl, as the
plugin writes them) and concluded with crmqa's own `conclude`, as at the end of a session;
the re-evaluations then go through `python -m crmqa gates` in a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmqa.conclude import conclude
from crmqa.core.results import CaseResult, Outcome, RunInfo
from crmqa.ledger import Campaign, Ledger
from crmqa.plan.loader import load_plan

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow]

CASES = [f"L-{n}" for n in range(1, 7)]

PLAN = """\
id: two-vendors
name: One plan, two vendors
system: {name: Any CRM, version: "1.0"}
target: vendor-a
targets:
  vendor-a: {profile: sandbox, base_url: "http://127.0.0.1:9"}
  vendor-b: {profile: sandbox, base_url: "http://127.0.0.1:9"}
cases:
CASES
gates:
  pass_rate: {functional: 0}
  max_open_severity: null
  suspension: {max_open_defects: 2, resume_at: 0, min_defects_for_shares: 100}
WAIVERS"""

WAIVER = """\
waivers:
  - {case: L-3, owner: Ana, reason: vendor fix in 1.2, expires: "2099-12-31"}
"""


def write_plan(path: Path, *, waivers: str = "") -> None:
    cases = "".join(
        f"  - id: {case}\n    title: case {case}\n"
        "    steps: [{request: {method: GET, path: /}}]\n"
        for case in CASES
    )
    path.write_text(PLAN.replace("CASES\n", cases).replace("WAIVERS", waivers))


def finished_run(
    reports: Path, plan: Path, run_id: str, day: int, target: str, failing: set[str]
) -> Path:
    """A run folder as the plugin leaves it, concluded as at the end of the session."""
    run_dir = reports / run_id
    (run_dir / "results").mkdir(parents=True)
    info = RunInfo(
        run_id=run_id, plan_id="two-vendors", plan_name="One plan, two vendors",
        plan_file=str(plan), system="Any CRM", system_version=f"1.{day}", target=target,
        started_at=datetime(2026, 11, day, 9, 0, tzinfo=UTC),
    )
    results = [
        CaseResult(
            plan_id="two-vendors", case_id=case, title=f"case {case}", category="functional",
            module="leads", severity="critical", priority="high",
            outcome=Outcome.FAILED if case in failing else Outcome.PASSED,
            message="status 500, expected 201" if case in failing else "",
        )
        for case in CASES
    ]
    (run_dir / "run.json").write_text(info.model_dump_json(indent=2), encoding="utf-8")
    (run_dir / "results" / "cases-gw0.jsonl").write_text(
        "".join(result.model_dump_json() + "\n" for result in results), encoding="utf-8"
    )
    conclude(run_dir, info, results, load_plan(plan), ledger_path=reports / "ledger.sqlite",
             today=datetime(2026, 11, day).date())
    return run_dir


def crmqa_gates(run_dir: Path, reports: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crmqa", "gates", str(run_dir), "--reports", str(reports)],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def defects_listed(run_dir: Path) -> dict[str, str]:
    with (run_dir / "defects.csv").open(encoding="utf-8") as handle:
        return {row["case"]: row["waived"] for row in csv.DictReader(handle)}


def test_gates_on_an_old_run_leaves_the_campaign_and_the_latest_applies_a_waiver(
    tmp_path: Path,
) -> None:
    plan, reports = tmp_path / "plan.yaml", tmp_path / "reports"
    write_plan(plan)
    vendor_a = Campaign("two-vendors", "vendor-a")
    vendor_b = Campaign("two-vendors", "vendor-b")
    old = finished_run(reports, plan, "20261101-r1", 1, "vendor-a", set())
    latest = finished_run(reports, plan, "20261102-r2", 2, "vendor-a", {"L-1", "L-2", "L-3"})
    # vendor B passes everything: that closes none of vendor A's defects
    finished_run(reports, plan, "20261103-b1", 3, "vendor-b", set())
    ledger = Ledger(reports / "ledger.sqlite")
    assert ledger.is_suspended(vendor_a) and not ledger.is_suspended(vendor_b)
    open_before = ledger.open_defects(vendor_a)
    assert [d.case_id for d in open_before] == ["L-1", "L-2", "L-3"]

    write_plan(plan, waivers=WAIVER)  # the enterprise signs a waiver for L-3
    done = crmqa_gates(old, reports)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "ACCEPTED" in done.stdout
    assert "not the latest run of campaign two-vendors on vendor-a" in done.stdout
    assert ledger.is_suspended(vendor_a) is True  # still the state after the latest run
    assert ledger.open_defects(vendor_a) == open_before  # the waiver is not stored either
    assert defects_listed(old) == {}  # nothing was open as of the old run
    assert json.loads((old / "verdict.json").read_text())["decision"] == "ACCEPTED"

    done = crmqa_gates(latest, reports)

    # 2 unwaived open defects: not above 2, and the run before was not suspended
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not the latest" not in done.stdout
    assert ledger.is_suspended(vendor_a) is False
    waived = {d.case_id: d.waiver is not None for d in ledger.open_defects(vendor_a)}
    assert waived == {"L-1": False, "L-2": False, "L-3": True}
    assert defects_listed(latest) == {"L-1": "no", "L-2": "no", "L-3": "yes"}
    assert [(r.run_id, r.system_version, r.decision, r.suspended)
            for r in ledger.runs(vendor_a)] == [
        ("20261101-r1", "1.1", "ACCEPTED", False),
        ("20261102-r2", "1.2", "ACCEPTED", False),
    ]
    assert ledger.open_defects(vendor_b) == []
