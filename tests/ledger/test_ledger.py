"""The defect ledger on a real SQLite file, across runs of a campaign."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crmqa.core.results import CaseResult, Outcome, RunInfo, Waiver
from crmqa.gates import Decision, evaluate
from crmqa.ledger import Campaign, Defect, DefectStatus, Ledger, LedgerError, params_hash
from crmqa.plan.models import Gates, Scales, Suspension, WaiverSpec


CAMPAIGN = Campaign("crm-acceptance", "vendor-a")


def run_info(
    run_id: str,
    day: int,
    plan_id: str = "crm-acceptance",
    *,
    target: str = "vendor-a",
    version: str = "1.0",
) -> RunInfo:
    return RunInfo(
        run_id=run_id, plan_id=plan_id, plan_name="CRM acceptance", plan_file="plans/x.yaml",
        target=target, system_version=version,
        started_at=datetime(2026, 11, day, 9, 0, tzinfo=UTC),
    )


def result(
    case_id: str,
    outcome: str,
    *,
    params: dict | None = None,
    severity: str = "critical",
    priority: str = "high",
    message: str = "",
    waiver: Waiver | None = None,
) -> CaseResult:
    return CaseResult(
        plan_id="crm-acceptance", case_id=case_id, title=f"title of {case_id}",
        category="functional", module="leads", severity=severity, priority=priority,
        params=params or {}, outcome=Outcome(outcome), message=message, waiver=waiver,
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "reports" / "ledger.sqlite")


def by_case(defects: list[Defect]) -> dict[str, Defect]:
    return {d.case_id: d for d in defects}


def test_three_runs_open_keep_close_and_reopen(ledger: Ledger) -> None:
    # run 1: two failures open two defects
    open_after_1 = ledger.record_run(run_info("r1", 1), [
        result("L-1", "failed", message="status 500, expected 201"),
        result("L-2", "failed", severity="minor", priority="low", message="wrong total"),
        result("L-3", "passed"),
        result("L-4", "broken", message="Environment problem: timeout"),
    ])
    assert sorted(by_case(open_after_1)) == ["L-1", "L-2"]
    first = by_case(open_after_1)["L-1"]
    assert first.status is DefectStatus.OPEN
    assert (first.first_seen_run, first.last_seen_run) == ("r1", "r1")
    assert first.severity == "critical" and first.priority == "high"
    assert first.message == "status 500, expected 201"
    assert first.title == "title of L-1"

    # run 2: L-1 fails again (kept open, refreshed), L-2 is fixed, L-3 regresses,
    # L-4 (broken before) still opens nothing
    open_after_2 = ledger.record_run(run_info("r2", 2), [
        result("L-1", "failed", message="status 502"),
        result("L-2", "passed"),
        result("L-3", "failed", severity="normal"),
        result("L-4", "broken"),
    ])
    assert sorted(by_case(open_after_2)) == ["L-1", "L-3"]
    kept = by_case(open_after_2)["L-1"]
    assert kept.id == first.id
    assert (kept.first_seen_run, kept.last_seen_run) == ("r1", "r2")
    assert kept.message == "status 502"

    # run 3: L-1 not run at all (stays open as it was), L-3 fixed, L-2 fails again
    open_after_3 = ledger.record_run(run_info("r3", 3), [
        result("L-2", "failed", severity="minor"),
        result("L-3", "passed"),
    ])
    assert sorted(by_case(open_after_3)) == ["L-1", "L-2"]
    assert by_case(open_after_3)["L-1"].last_seen_run == "r2"
    reopened = by_case(open_after_3)["L-2"]
    assert reopened.first_seen_run == "r3"  # a new defect: the fixed one stays fixed

    history = ledger.history(CAMPAIGN)
    assert [(d.case_id, d.status.value, d.fixed_in_run) for d in history] == [
        ("L-1", "open", None),
        ("L-2", "closed", "r2"),
        ("L-3", "closed", "r3"),
        ("L-2", "open", None),
    ]
    assert [r.run_id for r in ledger.runs(CAMPAIGN)] == ["r1", "r2", "r3"]
    assert ledger.runs(CAMPAIGN)[0].counts == {"failed": 2, "passed": 1, "broken": 1}


def test_parametrised_variants_are_separate_defects(ledger: Ledger) -> None:
    defects = ledger.record_run(run_info("r1", 1), [
        result("L-9", "failed", params={"email": "a@x"}),
        result("L-9", "failed", params={"email": "b@x"}),
    ])
    assert len(defects) == 2
    assert {d.params_hash for d in defects} == {
        params_hash({"email": "a@x"}), params_hash({"email": "b@x"}),
    }
    after = ledger.record_run(run_info("r2", 2), [result("L-9", "passed", params={"email": "a@x"})])
    assert [d.params for d in after] == [{"email": "b@x"}]


def test_params_hash_is_stable_and_order_independent() -> None:
    assert params_hash({}) == ""
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


def test_plans_are_kept_apart(ledger: Ledger) -> None:
    ledger.record_run(run_info("a1", 1, plan_id="plan-a"), [result("X", "failed")])
    ledger.record_run(run_info("b1", 1, plan_id="plan-b"), [result("X", "passed")])
    assert [d.case_id for d in ledger.open_defects(Campaign("plan-a", "vendor-a"))] == ["X"]
    assert ledger.open_defects(Campaign("plan-b", "vendor-a")) == []


def test_recording_the_same_run_twice_changes_nothing(ledger: Ledger) -> None:
    results = [result("L-1", "failed"), result("L-2", "failed")]
    first = ledger.record_run(run_info("r1", 1), results)
    ledger.record_run(run_info("r2", 2), [result("L-1", "passed")])
    before = ledger.history(CAMPAIGN)
    # re-evaluating r1 later must not reopen what r2 fixed; it gets the defects open after r1
    again = ledger.record_run(run_info("r1", 1), results)
    assert [d.case_id for d in again] == ["L-1", "L-2"]
    assert ledger.history(CAMPAIGN) == before
    assert [d.case_id for d in ledger.open_defects(CAMPAIGN)] == ["L-2"]
    assert len(ledger.history(CAMPAIGN)) == len(first)
    assert [r.run_id for r in ledger.runs(CAMPAIGN)] == ["r1", "r2"]


def test_plan_waivers_replace_stored_ones(ledger: Ledger) -> None:
    spec = WaiverSpec(case="L-1", owner="ana", reason="fix in 2.1", expires="2026-12-31")
    defects = ledger.record_run(run_info("r1", 1), [result("L-1", "failed")], waivers=[spec])
    assert defects[0].waiver == Waiver(
        case="L-1", owner="ana", reason="fix in 2.1", expires="2026-12-31"
    )
    # the waiver was removed from the plan: it stops protecting the defect
    defects = ledger.record_run(run_info("r2", 2), [result("L-1", "failed")], waivers=[])
    assert defects[0].waiver is None


def test_result_waiver_is_kept_on_the_defect(ledger: Ledger) -> None:
    waiver = Waiver(case="L-1", owner="bo", reason="known", expires="2027-01-31")
    defects = ledger.record_run(run_info("r1", 1), [result("L-1", "failed", waiver=waiver)])
    assert defects[0].waiver == waiver
    defects = ledger.record_run(run_info("r2", 2), [result("L-1", "failed")])
    assert defects[0].waiver == waiver  # no waiver list given: the stored one stays


def test_suspension_state_and_resume_at_across_runs(ledger: Ledger) -> None:
    gates = Gates(
        max_open_severity=None,
        suspension=Suspension(max_open_defects=3, resume_at=1, max_share_top_priority=1,
                              max_share_top_severity=1),
    )
    assert ledger.is_suspended(CAMPAIGN) is False

    def conclude(run_id: str, day: int, failing: list[str], passing: list[str]) -> Decision:
        results = [result(c, "failed", severity="minor") for c in failing]
        results += [result(c, "passed") for c in passing]
        results += [result(f"OK-{i}", "passed") for i in range(40)]
        defects = ledger.record_run(run_info(run_id, day), results)
        previously = ledger.is_suspended(CAMPAIGN, before=run_id)
        verdict = evaluate(results, gates, Scales(), defects, date(2026, 11, day),
                           previously_suspended=previously)
        ledger.set_suspended(CAMPAIGN, verdict.suspended, run_id,
                             decision=verdict.decision.value)
        return verdict.decision

    assert conclude("r1", 1, ["A", "B", "C", "D"], []) is Decision.SUSPENDED
    assert ledger.is_suspended(CAMPAIGN)
    # 2 open: below max_open_defects, not down to resume_at: still suspended
    assert conclude("r2", 2, ["A", "B"], ["C", "D"]) is Decision.SUSPENDED
    # 1 open: resumed (the remaining failure is minor, allowed)
    assert conclude("r3", 3, ["A"], ["B"]) is Decision.ACCEPTED
    assert ledger.is_suspended(CAMPAIGN) is False
    assert [(r.decision, r.suspended) for r in ledger.runs(CAMPAIGN)] == [
        ("SUSPENDED", True), ("SUSPENDED", True), ("ACCEPTED", False),
    ]


def test_concurrent_readers_while_the_controller_writes(ledger: Ledger) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        reader = Ledger(ledger.path)
        while not done.is_set():
            try:
                reader.open_defects(CAMPAIGN)
                reader.history(CAMPAIGN)
            except BaseException as error:  # collected and asserted below
                errors.append(error)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for number in range(15):
            outcome = "failed" if number % 2 else "passed"
            ledger.record_run(
                run_info(f"r{number}", 1 + number), [result(f"C{i}", outcome) for i in range(20)]
            )
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert errors == []
    assert len(ledger.open_defects(CAMPAIGN)) == 0  # the last run (14) passed all
    with sqlite3.connect(ledger.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ledger.sqlite"
    bogus.write_text("this is not sqlite, just text " * 100)
    with pytest.raises(LedgerError, match=r"cannot use .*ledger\.sqlite as the defect ledger"):
        Ledger(bogus)


def test_readers_do_not_wait_for_an_open_write_transaction(ledger: Ledger) -> None:
    ledger.record_run(run_info("r1", 1), [result("L-1", "failed")])
    writer = sqlite3.connect(ledger.path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # the controller in the middle of record_run
        writer.execute("UPDATE defects SET message = 'half-written'")
        started = time.monotonic()
        reader = Ledger(ledger.path)
        defects = reader.open_defects(CAMPAIGN)
        assert time.monotonic() - started < 5  # the busy timeout is 30 s
        assert [d.message for d in defects] == [""]  # the last committed state
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_state_survives_reopening_the_file(ledger: Ledger) -> None:
    ledger.record_run(run_info("r1", 1), [result("L-1", "failed")])
    ledger.set_suspended(CAMPAIGN, True, "r1")
    again = Ledger(ledger.path)
    assert again.is_suspended(CAMPAIGN)
    assert [d.case_id for d in again.open_defects(CAMPAIGN)] == ["L-1"]
    again.record_run(run_info("r2", 2), [result("L-1", "failed")])
    again.set_suspended(CAMPAIGN, False, "r2")
    assert not Ledger(ledger.path).is_suspended(CAMPAIGN)


def test_a_ledger_from_a_newer_crmqa_is_refused(ledger: Ledger) -> None:
    with sqlite3.connect(ledger.path) as connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerError, match="schema version 99"):
        Ledger(ledger.path)
