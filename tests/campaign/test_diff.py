"""Comparing two runs: failures, fixes, other changes and timings."""

from __future__ import annotations

from crmqa.core.results import CaseResult, Outcome
from crmqa.reports.diff import diff_runs


def res(case_id: str, outcome: str, ms: float = 100.0, params: dict | None = None) -> CaseResult:
    return CaseResult(plan_id="p", case_id=case_id, title=case_id, category="functional",
                      module="m", severity="normal", priority="medium", params=params or {},
                      outcome=Outcome(outcome), duration_ms=ms)


def test_diff_sorts_every_case_into_one_change() -> None:
    before = [res("NEW", "passed"), res("FIX", "failed"), res("STILL", "failed"),
              res("BROKE", "passed"), res("SLOW", "passed", 400), res("FAST", "passed", 2000),
              res("NOISE", "passed", 3), res("GONE", "passed"),
              res("P", "failed", params={"n": 1}), res("P", "passed", params={"n": 2})]
    after = [res("NEW", "failed"), res("FIX", "passed"), res("STILL", "failed"),
             res("BROKE", "broken"), res("SLOW", "passed", 900), res("FAST", "passed", 600),
             res("NOISE", "passed", 9), res("ADDED", "failed"),
             res("P", "passed", params={"n": 1}), res("P", "passed", params={"n": 2})]

    diff = diff_runs("a", before, "b", after)

    assert [c.case_id for c in diff.new_failures] == ["NEW", "ADDED"]
    assert [c.label for c in diff.fixed] == ["FIX", "P [n=1]"]
    assert [c.case_id for c in diff.still_failing] == ["STILL"]
    assert [(c.case_id, c.before, c.after) for c in diff.other_changes] == [
        ("BROKE", "passed", "broken"), ("GONE", "passed", "absent")]
    assert [c.case_id for c in diff.slower] == ["SLOW"]  # 400 -> 900 ms; 3 -> 9 ms is noise
    assert [c.case_id for c in diff.faster] == ["FAST"]
    assert not diff.empty


def test_the_same_run_twice_has_no_changes() -> None:
    runs = [res("A", "passed"), res("B", "failed")]
    diff = diff_runs("a", runs, "b", runs)
    assert diff.empty and [c.case_id for c in diff.still_failing] == ["B"]
