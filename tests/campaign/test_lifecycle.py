"""A defect's lifecycle across a campaign's runs, on a real SQLite ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crmqa.core.results import CaseResult, Outcome, RunInfo
from crmqa.ledger import (
    Campaign,
    Ledger,
    LedgerError,
    Lifecycle,
    RunRecord,
    campaign_status,
    cycle_lines,
    fingerprint,
)
from crmqa.plan.models import WaiverSpec

CAMPAIGN = Campaign("acceptance", "vendor-a")


def info(run_id: str, day: int, build: str) -> RunInfo:
    return RunInfo(run_id=run_id, plan_id="acceptance", plan_name="A", plan_file="p.yaml",
                   target="vendor-a", system_version=build,
                   started_at=datetime(2026, 11, day, 9, tzinfo=UTC))


def outcome(case_id: str, value: str, params: dict | None = None) -> CaseResult:
    return CaseResult(plan_id="acceptance", case_id=case_id, title=f"{case_id} title",
                      category="functional", module="leads", severity="critical",
                      priority="high", params=params or {}, outcome=Outcome(value),
                      message="boom" if value == "failed" else "")


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite")


def test_fail_pass_fail_is_one_defect_fixed_then_reopened(ledger: Ledger) -> None:
    today = date(2026, 11, 10)
    ledger.record_run(info("r1", 1, "1.0"), [outcome("A", "failed"), outcome("B", "failed")])
    ledger.record_run(info("r2", 2, "1.1"), [outcome("A", "passed"), outcome("B", "failed")])
    ledger.record_run(info("r3", 3, "1.2"), [outcome("A", "failed"), outcome("B", "broken")])

    first = {s.case_id: s
             for s in campaign_status(ledger, CAMPAIGN, today, as_of_run="r1").defects}
    assert first["A"].state is Lifecycle.NEW and first["B"].state is Lifecycle.NEW
    second = {s.case_id: s
              for s in campaign_status(ledger, CAMPAIGN, today, as_of_run="r2").defects}
    assert second["A"].state is Lifecycle.FIXED and second["A"].fixed_in_build == "1.1"
    assert second["B"].state is Lifecycle.OPEN
    now = {s.case_id: s for s in campaign_status(ledger, CAMPAIGN, today).defects}
    a = now["A"]
    assert a.state is Lifecycle.REOPENED and a.times_reopened == 1
    assert len(a.ledger_ids) == 2  # two occurrences in the ledger, one story and one id
    assert a.fingerprint == second["A"].fingerprint == fingerprint(CAMPAIGN, "A", "")
    assert (a.first_seen_build, a.last_seen_build) == ("1.0", "1.2")
    # a broken run says nothing about the product: B stays open, last seen in build 1.1
    assert now["B"].state is Lifecycle.OPEN and now["B"].last_seen_build == "1.1"


def test_an_expired_waiver_stops_protecting_its_defect(ledger: Ledger) -> None:
    waiver = WaiverSpec(case="A", owner="Ana", reason="fix in 1.2", expires="2026-11-05")
    ledger.record_run(info("r1", 1, "1.0"), [outcome("A", "failed")], waivers=[waiver])

    before = campaign_status(ledger, CAMPAIGN, date(2026, 11, 5))
    after = campaign_status(ledger, CAMPAIGN, date(2026, 11, 6))

    assert before.defects[0].state is Lifecycle.WAIVED and before.open_count == 0
    assert after.defects[0].state is Lifecycle.NEW and after.open_count == 1


def test_parameter_sets_are_separate_defects(ledger: Ledger) -> None:
    ledger.record_run(info("r1", 1, "1.0"), [outcome("A", "failed", {"n": 1}),
                                             outcome("A", "passed", {"n": 2})])
    stories = campaign_status(ledger, CAMPAIGN, date(2026, 11, 1)).defects
    assert [s.params for s in stories] == [{"n": 1}]
    assert stories[0].fingerprint != fingerprint(CAMPAIGN, "A", "")


def record(run_id: str, suspended: bool | None) -> RunRecord:
    return RunRecord(run_id=run_id, plan_id="p", started_at=datetime(2026, 11, 1, tzinfo=UTC),
                     recorded_at=datetime(2026, 11, 1, tzinfo=UTC), counts={},
                     suspended=suspended)


def test_cycles_say_where_testing_was_suspended_and_resumed() -> None:
    runs = [record("r1", False), record("r2", True), record("r3", None), record("r4", True),
            record("r5", False), record("r6", False)]
    assert [line.suspension for line in cycle_lines(runs)] == [
        "", "suspended", "still suspended", "still suspended", "resumed", ""]
    assert [line.number for line in cycle_lines(runs)] == [1, 2, 3, 4, 5, 6]


def test_status_of_an_unknown_campaign_or_run_is_an_error(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="no runs of campaign"):
        campaign_status(ledger, CAMPAIGN, date(2026, 11, 1))
    ledger.record_run(info("r1", 1, "1.0"), [outcome("A", "passed")])
    with pytest.raises(LedgerError, match="run r9 is not recorded"):
        campaign_status(ledger, CAMPAIGN, date(2026, 11, 1), as_of_run="r9")
    assert ledger.campaigns() == [CAMPAIGN]
    found = ledger.find_run("r1")
    assert found is not None and found.system_version == "1.0"
