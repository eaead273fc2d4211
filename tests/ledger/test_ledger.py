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


# ----------------------------------------------------------------------- campaigns


def test_two_targets_of_one_plan_do_not_close_each_others_defects(ledger: Ledger) -> None:
    vendor_b = Campaign("crm-acceptance", "vendor-b")
    ledger.record_run(run_info("a1", 1), [result("L-1", "failed"), result("L-2", "failed")])
    ledger.set_suspended(CAMPAIGN, True, "a1")
    # vendor B's CRM passes L-1 and L-2: that says nothing about vendor A's
    open_b = ledger.record_run(
        run_info("b1", 2, target="vendor-b"),
        [result("L-1", "passed"), result("L-2", "passed"), result("L-3", "failed")],
    )
    assert [d.case_id for d in open_b] == ["L-3"]
    assert [d.case_id for d in ledger.open_defects(CAMPAIGN)] == ["L-1", "L-2"]
    assert [d.case_id for d in ledger.history(vendor_b)] == ["L-3"]
    assert all(d.status is DefectStatus.OPEN for d in ledger.history(CAMPAIGN))
    assert [r.run_id for r in ledger.runs(CAMPAIGN)] == ["a1"]
    assert [r.run_id for r in ledger.runs(vendor_b)] == ["b1"]
    assert ledger.is_suspended(CAMPAIGN) and not ledger.is_suspended(vendor_b)
    # and the other way round: vendor A fixing L-3 leaves vendor B's L-3 open
    ledger.record_run(run_info("a2", 3), [result("L-3", "passed")])
    assert [d.case_id for d in ledger.open_defects(vendor_b)] == ["L-3"]


def test_runs_record_campaign_version_counts_and_verdict(ledger: Ledger) -> None:
    ledger.record_run(run_info("r1", 1, version="1.0"), [result("L-1", "failed")])
    ledger.record_run(run_info("r2", 2, version="1.1"), [result("L-1", "passed")])
    (first, second) = ledger.runs(CAMPAIGN)
    assert (first.campaign, first.system_version, first.counts) == (
        CAMPAIGN, "1.0", {"failed": 1},
    )
    assert (first.decision, first.suspended) == (None, None)  # no verdict recorded yet
    ledger.set_suspended(CAMPAIGN, False, "r2", decision="ACCEPTED")
    assert ledger.latest_run(CAMPAIGN) == second.model_copy(
        update={"decision": "ACCEPTED", "suspended": False}
    )
    # builds within one campaign: failing on 1.0 and passing on 1.1 is fixed
    (defect,) = ledger.history(CAMPAIGN)
    assert (defect.status, defect.fixed_in_run) == (DefectStatus.CLOSED, "r2")


def test_suspension_is_read_before_a_run_and_changes_only_with_the_latest(
    ledger: Ledger,
) -> None:
    for number, suspended in enumerate([False, True, True], start=1):
        ledger.record_run(run_info(f"r{number}", number), [result("L-1", "failed")])
        ledger.set_suspended(CAMPAIGN, suspended, f"r{number}")
    assert ledger.is_suspended(CAMPAIGN, before="r1") is False  # nothing before the first
    assert ledger.is_suspended(CAMPAIGN, before="r2") is False
    assert ledger.is_suspended(CAMPAIGN, before="r3") is True
    assert ledger.is_suspended(CAMPAIGN, before="not-recorded-yet") is True  # = now
    # r1 re-evaluated: its own record changes, the campaign's current state does not
    ledger.set_suspended(CAMPAIGN, True, "r1", decision="SUSPENDED")
    assert ledger.is_suspended(CAMPAIGN) is True
    ledger.set_suspended(CAMPAIGN, False, "r2")
    assert ledger.is_suspended(CAMPAIGN) is True
    assert ledger.is_suspended(CAMPAIGN, before="r3") is False
    # the latest run re-evaluated: the current state follows it
    ledger.set_suspended(CAMPAIGN, False, "r3")
    assert ledger.is_suspended(CAMPAIGN) is False


def test_a_run_without_a_recorded_verdict_keeps_the_state_before_it(ledger: Ledger) -> None:
    ledger.record_run(run_info("r1", 1), [result("L-1", "failed")])
    ledger.set_suspended(CAMPAIGN, True, "r1")
    # the controller died between recording r2 and recording its verdict
    ledger.record_run(run_info("r2", 2), [result("L-1", "failed")])
    assert ledger.is_suspended(CAMPAIGN) is True


def test_re_recording_an_old_run_returns_its_defects_and_changes_none(ledger: Ledger) -> None:
    ledger.record_run(run_info("r1", 1), [result("L-1", "failed"), result("L-2", "failed")])
    ledger.record_run(run_info("r2", 2), [result("L-1", "passed"), result("L-3", "failed")])
    current = ledger.history(CAMPAIGN)
    waiver = WaiverSpec(case="L-2", owner="ana", reason="fix in 2.1", expires="2026-12-31")

    as_of_r1 = ledger.record_run(run_info("r1", 1), [], waivers=[waiver])

    assert [d.case_id for d in as_of_r1] == ["L-1", "L-2"]  # L-1 was still open then
    assert by_case(as_of_r1)["L-2"].waiver is not None  # the plan's waivers apply to r1's view
    assert by_case(as_of_r1)["L-1"].waiver is None
    assert ledger.history(CAMPAIGN) == current  # ... but are not stored: r1 is not the latest
    assert by_case(ledger.open_defects(CAMPAIGN))["L-2"].waiver is None
    history_r1 = ledger.history(CAMPAIGN, as_of="r1")
    assert [(d.case_id, d.status.value, d.fixed_in_run) for d in history_r1] == [
        ("L-1", "open", None), ("L-2", "open", None),
    ]
    assert ledger.history(CAMPAIGN, as_of="r2") == current
    assert [d.case_id for d in ledger.open_defects(CAMPAIGN, as_of="r2")] == ["L-2", "L-3"]

    # the latest run re-evaluated with the waiver: stored on the campaign's open defect
    latest = ledger.record_run(run_info("r2", 2), [], waivers=[waiver])
    assert by_case(latest)["L-2"].waiver is not None
    assert by_case(ledger.open_defects(CAMPAIGN))["L-2"].waiver is not None


def test_a_run_belongs_to_one_campaign(ledger: Ledger) -> None:
    ledger.record_run(run_info("r1", 1), [result("L-1", "failed")])
    with pytest.raises(LedgerError, match="run r1 is recorded for campaign crm-acceptance "
                                          "on vendor-a, not crm-acceptance on vendor-b"):
        ledger.record_run(run_info("r1", 1, target="vendor-b"), [result("L-1", "passed")])
    assert [d.case_id for d in ledger.open_defects(CAMPAIGN)] == ["L-1"]
    with pytest.raises(LedgerError, match="run r9 is not recorded"):
        ledger.set_suspended(CAMPAIGN, True, "r9")
    with pytest.raises(LedgerError, match="run r9 is not recorded"):
        ledger.history(CAMPAIGN, as_of="r9")


# ----------------------------------------------------------------------- schema version 1

# The schema crmqa wrote before campaigns (schema version 1), kept here verbatim so that the
# migration is tested against real version-1 files.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE defects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    params TEXT NOT NULL,
    title TEXT NOT NULL,
    category TEXT NOT NULL,
    module TEXT NOT NULL,
    severity TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    first_seen_run TEXT NOT NULL,
    last_seen_run TEXT NOT NULL,
    fixed_in_run TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    fixed_at TEXT,
    message TEXT NOT NULL,
    waiver TEXT
);
CREATE UNIQUE INDEX defects_one_open_per_key
    ON defects (plan_id, case_id, params_hash) WHERE status = 'open';
CREATE INDEX defects_by_plan ON defects (plan_id, status);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    counts TEXT NOT NULL
);
CREATE TABLE suspension (
    plan_id TEXT PRIMARY KEY,
    suspended INTEGER NOT NULL,
    changed_in_run TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
INSERT INTO meta VALUES ('schema_version', '1');
"""

V1_WAIVER = '{"case":"A-1","owner":"ana","reason":"known","expires":"2027-01-31"}'


def v1_defect(
    plan_id: str, case_id: str, first: str, last: str, fixed: str | None = None,
    waiver: str | None = None,
) -> tuple[object, ...]:
    day = {"r1": 1, "r2": 2, "r3": 3, "b1": 1}

    def at(run: str | None) -> str | None:
        return None if run is None else f"2026-10-0{day[run]}T09:00:00+00:00"

    return (
        plan_id, case_id, "", "{}", f"title of {case_id}", "functional", "leads", "critical",
        "high", "closed" if fixed else "open", first, last, fixed, at(first), at(last),
        at(fixed), f"{case_id} failed", waiver,
    )


def write_v1_ledger(path: Path) -> None:
    """A version-1 ledger as crmqa left it: plan-a ran r1 r2 r3 and is suspended after r3
    (r1 re-evaluated since, the old bug, so r1 set the state); plan-b ran once; plan-c has a
    suspension state but no run (set through the API)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.executescript(V1_SCHEMA)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executemany(
        "INSERT INTO defects (plan_id, case_id, params_hash, params, title, category, module,"
        " severity, priority, status, first_seen_run, last_seen_run, fixed_in_run,"
        " first_seen_at, last_seen_at, fixed_at, message, waiver)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            v1_defect("plan-a", "A-1", "r1", "r3", waiver=V1_WAIVER),
            v1_defect("plan-a", "A-2", "r1", "r1", fixed="r2"),
            v1_defect("plan-a", "A-3", "r2", "r3"),
            v1_defect("plan-a", "A-4", "r3", "r3"),
            v1_defect("plan-b", "B-1", "b1", "b1"),
        ],
    )
    # inserted out of id order on purpose: the record order is the rowid, not the run id
    connection.executemany(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
        [
            ("r1", "plan-a", "2026-10-01T09:00:00+00:00", "2026-10-01T10:00:00+00:00",
             '{"failed": 2}'),
            ("r2", "plan-a", "2026-10-02T09:00:00+00:00", "2026-10-02T10:00:00+00:00",
             '{"failed": 2, "passed": 1}'),
            ("b1", "plan-b", "2026-10-01T09:00:00+00:00", "2026-10-01T10:00:00+00:00",
             '{"failed": 1}'),
            ("r3", "plan-a", "2026-10-03T09:00:00+00:00", "2026-10-03T10:00:00+00:00",
             '{"failed": 3}'),
        ],
    )
    connection.executemany(
        "INSERT INTO suspension VALUES (?, ?, ?, ?)",
        [
            ("plan-a", 1, "r1", "2026-10-05T12:00:00+00:00"),
            ("plan-b", 0, "b1", "2026-10-01T10:00:00+00:00"),
            ("plan-c", 1, "c0", "2026-10-04T10:00:00+00:00"),
        ],
    )
    connection.commit()
    connection.close()


def test_a_v1_ledger_is_migrated_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "ledger.sqlite"
    write_v1_ledger(path)
    with sqlite3.connect(path) as connection:
        v1_defects = connection.execute("SELECT * FROM defects ORDER BY id").fetchall()

    ledger = Ledger(path)

    a, b, c = (Campaign(plan, "") for plan in ("plan-a", "plan-b", "plan-c"))
    with sqlite3.connect(path) as connection:
        assert connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone() == ("2",)
        # every v1 column of every defect, unchanged; only the (empty) target added
        columns = "id, plan_id, case_id, params_hash, params, title, category, module," \
            " severity, priority, status, first_seen_run, last_seen_run, fixed_in_run," \
            " first_seen_at, last_seen_at, fixed_at, message, waiver"
        assert connection.execute(f"SELECT {columns} FROM defects ORDER BY id").fetchall() \
            == v1_defects
        assert connection.execute("SELECT * FROM v1_suspension").fetchall() == [
            ("plan-a", 1, "r1", "2026-10-05T12:00:00+00:00"),
            ("plan-b", 0, "b1", "2026-10-01T10:00:00+00:00"),
            ("plan-c", 1, "c0", "2026-10-04T10:00:00+00:00"),
        ]
    assert [d.case_id for d in ledger.open_defects(a)] == ["A-1", "A-3", "A-4"]
    assert by_case(ledger.open_defects(a))["A-1"].waiver == Waiver.model_validate_json(V1_WAIVER)
    assert [d.case_id for d in ledger.open_defects(b)] == ["B-1"]
    runs_a = ledger.runs(a)
    assert [(r.run_id, r.counts, r.decision, r.system_version) for r in runs_a] == [
        ("r1", {"failed": 2}, None, ""),
        ("r2", {"failed": 2, "passed": 1}, None, ""),
        ("r3", {"failed": 3}, None, ""),
    ]
    # the state goes on the run that set it, and stays the plan's current state
    assert [r.suspended for r in runs_a] == [True, None, None]
    assert ledger.is_suspended(a) is True
    assert ledger.is_suspended(b) is False
    assert [(r.run_id, r.suspended) for r in ledger.runs(c)] == [("c0", True)]
    assert ledger.is_suspended(c) is True
    # as-of views work on migrated history too
    assert [d.case_id for d in ledger.open_defects(a, as_of="r1")] == ["A-1", "A-2"]
    # opening the migrated file again changes nothing
    assert Ledger(path).runs(a) == runs_a


def test_the_first_target_recorded_takes_over_a_v1_plans_history(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    write_v1_ledger(path)
    ledger = Ledger(path)
    vendor_a = Campaign("plan-a", "vendor-a")
    gates = Gates(
        max_open_severity=None,
        suspension=Suspension(max_open_defects=2, resume_at=0, max_share_top_priority=1,
                              max_share_top_severity=1),
    )
    results = [result("A-1", "failed"), result("A-3", "passed")]
    results += [result(f"OK-{i}", "passed") for i in range(40)]

    defects = ledger.record_run(run_info("r4", 4, "plan-a"), results)

    # the history continues: A-1 is the same defect, A-4 is still open, r4 follows r3
    assert [(d.id, d.case_id) for d in defects] == [(1, "A-1"), (4, "A-4")]
    assert [r.run_id for r in ledger.runs(vendor_a)] == ["r1", "r2", "r3", "r4"]
    assert ledger.history(Campaign("plan-a", "")) == []
    # suspended in v1, and 2 open is not down to resume_at: the hysteresis carries over
    previously = ledger.is_suspended(vendor_a, before="r4")
    assert previously is True
    verdict = evaluate(results, gates, Scales(), defects, date(2026, 11, 4),
                       previously_suspended=previously)
    assert verdict.decision is Decision.SUSPENDED
    # a second target of the plan starts its own campaign; plan-b's history waits for its own
    assert ledger.record_run(run_info("x1", 5, "plan-a", target="vendor-b"), []) == []
    assert ledger.runs(Campaign("plan-a", "vendor-b"))[0].run_id == "x1"
    assert [d.case_id for d in ledger.open_defects(Campaign("plan-b", ""))] == ["B-1"]


def test_a_v1_run_re_evaluated_after_the_upgrade_claims_its_plans_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite"
    write_v1_ledger(path)
    ledger = Ledger(path)
    vendor_a = Campaign("plan-a", "vendor-a")
    as_of_r2 = ledger.record_run(run_info("r2", 2, "plan-a"), [])
    assert [d.case_id for d in as_of_r2] == ["A-1", "A-3"]  # A-4 came in r3, A-2 fixed in r2
    assert ledger.is_suspended(vendor_a, before="r2") is True  # r1's state
    assert [r.run_id for r in ledger.runs(vendor_a)] == ["r1", "r2", "r3"]
    assert [d.case_id for d in ledger.open_defects(vendor_a)] == ["A-1", "A-3", "A-4"]


def test_two_processes_opening_a_v1_ledger_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    write_v1_ledger(path)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_ledger() -> None:
        try:
            start.wait()
            Ledger(path)
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=open_ledger) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ledger = Ledger(path)
    assert [r.run_id for r in ledger.runs(Campaign("plan-a", ""))] == ["r1", "r2", "r3"]
    assert len(ledger.history(Campaign("plan-a", ""))) == 4
