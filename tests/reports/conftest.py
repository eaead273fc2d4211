"""A concluded run to write reports from: results, verdict, ledger defects and the plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crmqa.core.results import BrokenKind, CaseResult, Outcome, RunInfo, Waiver
from crmqa.gates import Verdict, evaluate
from crmqa.ledger import Defect, Ledger
from crmqa.plan.models import Plan

TODAY = date(2026, 11, 23)
XSS = "<script>alert('x')</script>"
SECRET = "s3cr3t-pass"


def make_plan() -> Plan:
    return Plan.model_validate({
        "id": "acme-crm",
        "name": "ACME CRM acceptance",
        "system": {"name": "SandboxCRM", "version": "1.4"},
        "target": "sandbox",
        "targets": {"sandbox": {"profile": "sandbox", "base_url": "http://127.0.0.1:8000"}},
        "gates": {"must_pass": ["AUTH-1"]},
        "waivers": [
            {"case": "L-WAIVED", "owner": "Ana <qa lead>", "reason": "vendor fix in 1.5",
             "expires": "2026-12-31"},
            {"case": "L-OLD", "owner": "Bo", "reason": "expired one", "expires": "2026-01-01"},
        ],
    })


def make_run_info(run_id: str = "20261123-090000-abcd") -> RunInfo:
    return RunInfo(
        run_id=run_id, plan_id="acme-crm", plan_name="ACME CRM acceptance",
        plan_file="plans/acme.yaml", system="SandboxCRM", system_version="1.4",
        target="sandbox", base_url=f"http://admin:{SECRET}@127.0.0.1:8000/crm?token={SECRET}",
        profile="sandbox", started_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        finished_at=datetime(2026, 11, 23, 9, 5, tzinfo=UTC), crmqa_version="0.1.0",
    )


def case(case_id: str, outcome: str, **fields: object) -> CaseResult:
    base: dict[str, object] = {
        "plan_id": "acme-crm", "case_id": case_id, "title": f"Case {case_id}",
        "category": "functional", "module": "leads", "severity": "normal",
        "priority": "medium", "outcome": Outcome(outcome),
    }
    base.update(fields)
    return CaseResult.model_validate(base)


def make_results() -> list[CaseResult]:
    waiver = Waiver(case="L-WAIVED", owner="Ana <qa lead>", reason="vendor fix in 1.5",
                    expires="2026-12-31")
    results = [case(f"L-{n:03}", "passed") for n in range(18)]
    results += [
        case("AUTH-1", "passed", module="auth", severity="blocker", category="security"),
        case("L-XSS", "failed", title=f"Lead named {XSS} is shown escaped",
             severity="critical", priority="high", message=f"page showed {XSS} | raw"),
        case("L-FORMULA", "failed", title="=HYPERLINK(\"http://evil\")", severity="minor",
             message="+cmd|' /C calc'!A0"),
        case("L-WAIVED", "failed", severity="normal", waiver=waiver, message="known bug"),
        case("L-ENV", "broken", broken_kind=BrokenKind.ENVIRONMENT,
             message="Environment problem: connection refused"),
        case("L-EDIT", "blocked", message="prerequisite L-XSS failed"),
        case("UX-IMPORT", "not_applicable", category="ux", module="import",
             message="the target has no screen lead_import"),
        case("SEC-2", "passed", category="security", module="auth", params={"role": "viewer"}),
    ]
    return results


@dataclass
class Concluded:
    run_dir: Path
    run_info: RunInfo
    results: list[CaseResult]
    verdict: Verdict
    defects: list[Defect]
    plan: Plan


@pytest.fixture
def concluded(tmp_path: Path) -> Concluded:
    plan = make_plan()
    info = make_run_info()
    results = make_results()
    ledger = Ledger(tmp_path / "ledger.sqlite")
    defects = ledger.record_run(info, results, waivers=plan.waivers)
    verdict = evaluate(results, plan.gates, plan.scales, defects, TODAY)
    run_dir = tmp_path / info.run_id
    run_dir.mkdir()
    return Concluded(run_dir, info, results, verdict, defects, plan)
