"""Every gate rule and its edges: pass rates, severity, must-pass, suspension, waivers, scales."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from crmqa.core.results import BrokenKind, CaseResult, LeftOutBy, Leftover, Outcome, Waiver
from crmqa.gates import (
    Decision,
    GateConfigError,
    GateKind,
    GateResult,
    Verdict,
    Withheld,
    WithheldKind,
    evaluate,
    required_pass_rate,
    waiver_active,
)
from crmqa.plan.models import Gates, Level, PassRates, Scales, Suspension

TODAY = date(2026, 11, 23)
_counter = iter(range(1_000_000))


def case(
    outcome: Outcome | str,
    category: str = "functional",
    *,
    case_id: str | None = None,
    severity: str = "normal",
    priority: str = "medium",
    waiver: Waiver | None = None,
    broken_kind: BrokenKind | None = None,
    message: str = "",
) -> CaseResult:
    number = next(_counter)
    return CaseResult(
        plan_id="p1",
        case_id=case_id or f"C-{number}",
        title=f"case {number}",
        category=category,
        module="leads",
        severity=severity,
        priority=priority,
        outcome=Outcome(outcome),
        waiver=waiver,
        broken_kind=broken_kind,
        message=message,
    )


def cases(category: str = "functional", **outcomes: int) -> list[CaseResult]:
    return [case(o, category) for o, n in outcomes.items() for _ in range(n)]


@dataclass(frozen=True)
class Bug:
    """Stands in for the ledger's Defect: gates only need these four attributes."""

    severity: str = "normal"
    priority: str = "medium"
    case_id: str = "X"
    waiver: Waiver | None = None


def row(verdict: Verdict, name: str) -> GateResult:
    matches = [r for r in verdict.gate_results if r.name == name]
    assert matches, f"no gate row {name!r} in {[r.name for r in verdict.gate_results]}"
    return matches[0]


def run(results: list[CaseResult], gates: Gates | None = None, defects=(), **kw) -> Verdict:
    return evaluate(results, gates or Gates(), Scales(), list(defects), TODAY, **kw)


# --------------------------------------------------------------------------- pass rates


def test_functional_pass_rate_exactly_95_percent_is_accepted() -> None:
    verdict = run(cases(passed=19, failed=1), gates=Gates(max_open_severity=None))
    functional = row(verdict, "pass rate: functional")
    assert functional.passed
    assert functional.actual == "95.0% (19/20)"
    assert functional.required == "≥ 95%"
    assert verdict.decision is Decision.ACCEPTED
    assert verdict.exit_code == 0


def test_functional_pass_rate_just_below_95_percent_is_rejected() -> None:
    # 94.99% must not be shown, nor judged, as 95%
    gates = Gates(max_open_severity=None, suspension=Suspension(max_open_defects=1000))
    verdict = run(cases(passed=1899, failed=101), gates=gates)
    functional = row(verdict, "pass rate: functional")
    assert not functional.passed
    assert functional.actual == "94.9% (1899/2000)"
    assert verdict.decision is Decision.REJECTED
    assert verdict.exit_code == 1
    assert verdict.reasons == ["pass rate: functional: 94.9% (1899/2000) (required ≥ 95%)"]


def test_non_functional_default_is_90_percent_and_exact_boundary_passes() -> None:
    results = cases("security", passed=9, failed=1) + cases("performance", passed=8, failed=2)
    verdict = run(results, gates=Gates(max_open_severity=None))
    assert row(verdict, "pass rate: security").passed
    assert row(verdict, "pass rate: security").required == "≥ 90%"
    assert not row(verdict, "pass rate: performance").passed
    assert verdict.decision is Decision.REJECTED


def test_per_category_override_replaces_the_family_default() -> None:
    gates = Gates(pass_rate=PassRates(performance=80, functional=100), max_open_severity=None)
    results = cases("performance", passed=8, failed=2) + cases(passed=5)
    verdict = run(results, gates=gates)
    assert row(verdict, "pass rate: performance").passed
    assert row(verdict, "pass rate: performance").required == "≥ 80%"
    assert row(verdict, "pass rate: functional").required == "≥ 100%"
    assert verdict.decision is Decision.ACCEPTED


def test_required_pass_rate_lookup() -> None:
    rates = PassRates(ux=70)
    assert required_pass_rate("functional", rates) == 95
    assert required_pass_rate("ux", rates) == 70
    assert required_pass_rate("migration", rates) == 90
    assert required_pass_rate("manual", rates) == 90
    assert required_pass_rate("something_new", rates) == 90


def test_blocked_skipped_and_not_applicable_are_outside_the_pass_rate() -> None:
    results = cases(passed=19, failed=1, blocked=7, skipped=3, not_applicable=2)
    verdict = run(results, gates=Gates(max_open_severity=None))
    functional = row(verdict, "pass rate: functional")
    assert functional.actual == "95.0% (19/20)"
    assert "blocked 7" in functional.detail
    assert "skipped 3" in functional.detail
    assert "not applicable 2" in functional.detail
    assert verdict.counts["blocked"] == 7
    assert verdict.executed == 20
    assert verdict.decision is Decision.ACCEPTED
    assert any("blocked" in w for w in verdict.warnings)


def test_broken_cases_that_decide_the_run_withhold_the_verdict() -> None:
    results = [
        *cases(passed=18),
        case("broken", broken_kind=BrokenKind.ENVIRONMENT, message="Environment problem: timeout"),
        case("broken", broken_kind=BrokenKind.TEST_DEFECT),
    ]
    verdict = run(results)
    functional = row(verdict, "pass rate: functional")
    assert functional.actual == "90.0% (18/20)"
    assert not functional.passed
    # 18/20 rejects, 20/20 would accept: the two broken cases decide, so nothing is decided
    assert verdict.decision is None
    assert verdict.withheld is not None and verdict.withheld.kind is WithheldKind.TEST_DEFECT
    assert verdict.exit_code == 3
    assert verdict.headline == "NO VERDICT (test defect)"
    assert verdict.reasons[0].startswith("2 case(s) broken (environment problems 1, test defects 1")
    assert "ACCEPTED had they passed, REJECTED had they failed" in verdict.reasons[0]
    assert verdict.warnings[0].startswith(
        "2 case(s) broken (environment problems 1, test defects 1)"
    )


def test_environment_problems_alone_withhold_with_exit_code_4() -> None:
    results = [case("broken", broken_kind=BrokenKind.ENVIRONMENT) for _ in range(5)]
    verdict = run(results)
    assert verdict.decision is None
    assert verdict.withheld is not None and verdict.withheld.kind is WithheldKind.ENVIRONMENT
    assert verdict.exit_code == 4


def test_broken_cases_that_cannot_change_the_decision_leave_it_standing() -> None:
    # Two real failures reject whatever the broken case would have shown.
    rejected = run([*cases(passed=10, failed=2),
                    case("broken", broken_kind=BrokenKind.ENVIRONMENT)])
    assert rejected.decision is Decision.REJECTED and rejected.withheld is None
    assert any("broken" in w for w in rejected.warnings)


def test_a_few_broken_cases_still_accept_but_never_silently() -> None:
    results = [*cases(passed=99), case("broken", broken_kind=BrokenKind.ENVIRONMENT)]
    verdict = run(results)
    assert verdict.decision is Decision.ACCEPTED
    assert any("broken" in warning for warning in verdict.warnings)


def test_category_without_executed_cases_shows_na_and_does_not_fail() -> None:
    results = cases(passed=10) + cases("ux", blocked=2) + cases("migration", not_applicable=1)
    verdict = run(results)
    ux = row(verdict, "pass rate: ux")
    assert ux.actual == "n/a"
    assert ux.passed and not ux.applicable
    assert "blocked 2" in ux.detail
    assert row(verdict, "pass rate: migration").actual == "n/a"
    assert verdict.decision is Decision.ACCEPTED
    # categories absent from the run get no row at all
    assert not [r for r in verdict.gate_results if r.name == "pass rate: security"]


def test_category_rows_follow_the_category_order() -> None:
    results = cases("security", passed=1) + cases(passed=1) + cases("ux", passed=1)
    names = [r.name for r in run(results).gate_results if r.kind is GateKind.PASS_RATE]
    assert names == ["pass rate: functional", "pass rate: ux", "pass rate: security"]


# --------------------------------------------------------------------------- min executed


def test_fewer_executed_cases_than_min_executed_is_rejected_with_a_reason() -> None:
    verdict = run(cases(passed=3, blocked=5), gates=Gates(min_executed=4))
    executed = row(verdict, "executed cases")
    assert not executed.passed
    assert executed.actual == "3"
    assert "at least 4" in executed.detail
    assert verdict.decision is Decision.REJECTED
    assert verdict.reasons == ["executed cases: 3 (required ≥ 4)"]


def test_an_empty_run_is_rejected() -> None:
    verdict = run([])
    assert verdict.decision is Decision.REJECTED
    assert verdict.executed == 0


# --------------------------------------------------------------------------- severity


def test_open_defect_above_the_allowed_severity_rejects() -> None:
    verdict = run(cases(passed=100), defects=[Bug("critical"), Bug("minor")])
    severity = row(verdict, "highest open severity")
    assert not severity.passed
    assert severity.required == "nothing above normal"
    assert severity.actual == "critical (1 open)"
    assert verdict.decision is Decision.REJECTED


def test_open_defect_at_the_allowed_severity_passes() -> None:
    verdict = run(cases(passed=100), defects=[Bug("normal"), Bug("minor")])
    assert row(verdict, "highest open severity").passed
    assert verdict.decision is Decision.ACCEPTED


def test_no_severity_limit() -> None:
    verdict = run(cases(passed=10), gates=Gates(max_open_severity=None), defects=[Bug("blocker")])
    assert row(verdict, "highest open severity").required == "no limit"
    assert verdict.decision is Decision.ACCEPTED


def test_unknown_severity_on_a_defect_counts_as_most_severe() -> None:
    verdict = run(cases(passed=10), defects=[Bug("catastrophic")])
    severity = row(verdict, "highest open severity")
    assert not severity.passed
    assert "catastrophic" in severity.detail


def test_limit_not_on_the_scale_is_a_clear_error() -> None:
    with pytest.raises(GateConfigError, match="'huge', which is not on the severity scale"):
        run(cases(passed=1), gates=Gates(max_open_severity="huge"))


def test_failed_case_missing_from_the_defect_list_still_counts() -> None:
    results = [*cases(passed=99), case("failed", severity="blocker")]
    verdict = run(results, defects=[])
    assert not row(verdict, "highest open severity").passed
    assert verdict.decision is Decision.REJECTED


def test_custom_scales() -> None:
    scales = Scales(
        severity=[Level(name="S1"), Level(name="S2"), Level(name="S3")],
        priority=[Level(name="P1"), Level(name="P2")],
    )
    gates = Gates(max_open_severity="S2")
    ok = evaluate(cases(passed=10), gates, scales, [Bug("S2", "P2"), Bug("S3", "P2")], TODAY)
    assert ok.decision is Decision.ACCEPTED
    bad = evaluate(cases(passed=10), gates, scales, [Bug("S1", "P2")], TODAY)
    assert bad.decision is Decision.REJECTED
    assert row(bad, "highest open severity").actual == "S1 (1 open)"
    # the share rules use the top of the custom scales
    many = [Bug("S1", "P2")] * 3 + [Bug("S3", "P2")] * 2
    shares = evaluate(cases(passed=10), Gates(max_open_severity=None), scales, many, TODAY)
    assert row(shares, "share of top severity").actual == "60.0% (3 of 5 are S1)"
    assert shares.decision is Decision.SUSPENDED


# --------------------------------------------------------------------------- must pass


def test_must_pass_case_that_failed_rejects_even_with_good_rates() -> None:
    results = [*cases(passed=99), case("failed", case_id="L-LOGIN", severity="minor")]
    verdict = run(results, gates=Gates(must_pass=["L-LOGIN"]))
    must = row(verdict, "must pass: L-LOGIN")
    assert not must.passed and must.actual == "failed"
    assert row(verdict, "pass rate: functional").passed
    assert verdict.decision is Decision.REJECTED


@pytest.mark.parametrize("outcome", ["broken", "blocked", "skipped", "not_applicable"])
def test_must_pass_case_that_did_not_pass_rejects(outcome: str) -> None:
    results = [*cases(passed=50), case(outcome, case_id="M1")]
    verdict = run(results, gates=Gates(must_pass=["M1"]))
    assert not row(verdict, "must pass: M1").passed
    if outcome == "broken":  # it was not judged: had it passed, the run would be accepted
        assert verdict.decision is None and verdict.exit_code == 3
    else:
        assert verdict.decision is Decision.REJECTED


def test_must_pass_case_not_run_rejects() -> None:
    verdict = run(cases(passed=5), gates=Gates(must_pass=["NOPE"]))
    must = row(verdict, "must pass: NOPE")
    assert must.actual == "not run" and not must.passed


def test_must_pass_with_variants_needs_every_variant() -> None:
    results = [case("passed", case_id="M"), case("failed", case_id="M", severity="minor")]
    verdict = run(results + cases(passed=100), gates=Gates(must_pass=["M"]))
    assert row(verdict, "must pass: M").actual == "1 passed, 1 failed"
    assert verdict.decision is Decision.REJECTED
    ok = run([case("passed", case_id="M")] * 2, gates=Gates(must_pass=["M"]))
    assert row(ok, "must pass: M").passed


# --------------------------------------------------------------------------- waivers


def waiver(expires: str, case_id: str = "W1") -> Waiver:
    return Waiver(case=case_id, owner="qa.lead", reason="vendor fix in 2.1", expires=expires)


def test_waiver_valid_through_its_expiry_date() -> None:
    assert waiver_active(waiver("2026-11-23"), TODAY)
    assert not waiver_active(waiver("2026-11-22"), TODAY)
    assert not waiver_active(waiver("not-a-date"), TODAY)
    assert not waiver_active(None, TODAY)


def test_waived_failure_is_kept_out_of_pass_rate_severity_and_suspension() -> None:
    active = waiver("2026-12-31")
    results = [*cases(passed=19), case("failed", case_id="W1", severity="blocker", waiver=active)]
    defects = [Bug("blocker", "highest", "W1", active)]
    verdict = run(results, defects=defects)
    assert row(verdict, "pass rate: functional").actual == "100.0% (19/19)"
    assert "waived 1" in row(verdict, "pass rate: functional").detail
    assert row(verdict, "highest open severity").actual == "no open defects"
    assert "1 waived defect(s) not counted" in row(verdict, "highest open severity").detail
    assert row(verdict, "open defects").actual == "0"
    assert verdict.waived == 1
    assert verdict.executed == 20
    assert verdict.decision is Decision.ACCEPTED


def test_expired_waiver_counts_again() -> None:
    expired = waiver("2026-11-22")
    results = [*cases(passed=19), case("failed", case_id="W1", severity="blocker", waiver=expired)]
    verdict = run(results, defects=[Bug("blocker", "highest", "W1", expired)])
    assert row(verdict, "pass rate: functional").actual == "95.0% (19/20)"
    assert not row(verdict, "highest open severity").passed
    assert verdict.decision is Decision.REJECTED
    assert any("expired (2026-11-22)" in w for w in verdict.warnings)


def test_waived_must_pass_failure_is_kept_out_of_the_gate() -> None:
    active = waiver("2027-01-01", "M1")
    results = [*cases(passed=10), case("failed", case_id="M1", severity="minor", waiver=active)]
    verdict = run(results, gates=Gates(must_pass=["M1"]))
    must = row(verdict, "must pass: M1")
    assert must.passed and must.actual == "waived"
    assert "qa.lead until 2027-01-01" in must.detail


# --------------------------------------------------------------------------- suspension


def test_more_than_max_open_defects_suspends() -> None:
    gates = Gates(max_open_severity=None, suspension=Suspension(max_open_defects=5))
    at_limit = run(cases(passed=10), gates=gates, defects=[Bug("minor", "low")] * 5)
    assert at_limit.decision is Decision.ACCEPTED
    over = run(cases(passed=10), gates=gates, defects=[Bug("minor", "low")] * 6)
    assert over.decision is Decision.SUSPENDED
    assert over.exit_code == 2
    assert over.suspended
    assert row(over, "open defects").required == "≤ 5"


def test_suspended_wins_over_rejected() -> None:
    gates = Gates(suspension=Suspension(max_open_defects=1))
    verdict = run(cases(passed=1, failed=9), gates=gates, defects=[Bug("blocker")] * 2)
    assert verdict.decision is Decision.SUSPENDED
    # the run's 9 failures count as open defects besides the 2 listed ones
    assert verdict.reasons[0] == "open defects: 11 (required ≤ 1)"
    assert len(verdict.reasons) > 1  # the rejecting rows are still listed


def test_resume_at_hysteresis_across_two_runs() -> None:
    gates = Gates(
        max_open_severity=None,
        suspension=Suspension(max_open_defects=10, resume_at=3, max_share_top_priority=1),
    )
    # run 1: 11 open -> suspended
    first = run(cases(passed=10), gates=gates, defects=[Bug("minor")] * 11)
    assert first.decision is Decision.SUSPENDED
    # run 2: 5 open is under max_open_defects but not down to resume_at: still suspended
    second = run(
        cases(passed=10), gates=gates, defects=[Bug("minor")] * 5,
        previously_suspended=first.suspended,
    )
    assert second.decision is Decision.SUSPENDED
    assert row(second, "open defects").required == "≤ 3 to resume"
    # without the remembered state, 5 open defects would not suspend
    assert run(cases(passed=10), gates=gates, defects=[Bug("minor")] * 5).decision is (
        Decision.ACCEPTED
    )
    # run 3: down to 3 -> resumes
    third = run(
        cases(passed=10), gates=gates, defects=[Bug("minor")] * 3,
        previously_suspended=second.suspended,
    )
    assert third.decision is Decision.ACCEPTED
    assert not third.suspended


def test_top_severity_share_above_half_suspends_exactly_half_does_not() -> None:
    gates = Gates(max_open_severity=None)
    half = [Bug("blocker", "low")] * 2 + [Bug("minor", "low")] * 2
    assert run(cases(passed=10), gates=gates, defects=half).decision is Decision.ACCEPTED
    more = [Bug("blocker", "low")] * 3 + [Bug("minor", "low")] * 2
    verdict = run(cases(passed=10), gates=gates, defects=more)
    share = row(verdict, "share of top severity")
    assert not share.passed
    assert share.actual == "60.0% (3 of 5 are blocker)"
    assert share.required == "≤ 50% of open defects"
    assert verdict.decision is Decision.SUSPENDED


def test_top_priority_share_above_a_third_suspends_exactly_a_third_does_not() -> None:
    gates = Gates(max_open_severity=None)
    third = [Bug("minor", "highest")] * 3 + [Bug("minor", "low")] * 6
    verdict = run(cases(passed=10), gates=gates, defects=third)
    assert row(verdict, "share of top priority").passed
    assert row(verdict, "share of top priority").actual == "33.3% (3 of 9 are highest)"
    over = [Bug("minor", "highest")] * 4 + [Bug("minor", "low")] * 6
    assert run(cases(passed=10), gates=gates, defects=over).decision is Decision.SUSPENDED


def test_share_rules_only_from_min_defects_for_shares() -> None:
    gates = Gates(max_open_severity=None)  # min_defects_for_shares defaults to 4
    three = [Bug("blocker", "highest")] * 3
    verdict = run(cases(passed=10), gates=gates, defects=three)
    share = row(verdict, "share of top severity")
    assert share.actual == "n/a" and not share.applicable and share.passed
    assert "applies from 4 open defects; 3 open" in share.detail
    assert verdict.decision is Decision.ACCEPTED
    four = [Bug("blocker", "highest")] * 4
    assert run(cases(passed=10), gates=gates, defects=four).decision is Decision.SUSPENDED


def test_waived_defects_do_not_count_towards_suspension() -> None:
    gates = Gates(max_open_severity=None, suspension=Suspension(max_open_defects=2))
    active = waiver("2027-01-01")
    defects = [Bug("minor", "low", "W1", active)] * 5 + [Bug("minor", "low")]
    assert run(cases(passed=5), gates=gates, defects=defects).decision is Decision.ACCEPTED


# --------------------------------------------------------------------------- verdict shape


def test_verdict_counts_and_json_round_trip() -> None:
    results = cases(passed=3, failed=1, broken=1, blocked=1, skipped=1, not_applicable=1)
    verdict = run(results, gates=Gates(max_open_severity=None))
    assert verdict.counts == {
        "passed": 3, "failed": 1, "broken": 1, "blocked": 1, "skipped": 1, "not_applicable": 1,
    }
    data = verdict.model_dump(mode="json")
    assert data["exit_code"] == 1
    assert data["decision"] == "REJECTED"
    assert data["evaluated_on"] == "2026-11-23"
    assert Verdict.model_validate_json(verdict.model_dump_json()).decision is Decision.REJECTED
    kinds = [r.kind for r in verdict.gate_results]
    assert kinds[0] is GateKind.MIN_EXECUTED
    assert kinds[-4:] == [GateKind.SUSPENSION] * 3 + [GateKind.CLEANUP]


# --------------------------------------------------------------------------- run integrity


def left_behind(entity: str = "lead", record_id: int = 7) -> CaseResult:
    result = case("passed")
    result.leftovers.append(Leftover(entity=entity, record_id=record_id, identity="admin",
                                     reason="DELETE /api/leads/7 -> 403"))
    return result


def test_records_left_behind_withhold_an_acceptance() -> None:
    verdict = run([*cases(passed=5), left_behind()])
    cleanup = row(verdict, "nothing left behind")
    assert cleanup.kind is GateKind.CLEANUP and not cleanup.passed
    assert cleanup.actual == "1 record(s) left"
    assert "lead 7" in cleanup.detail
    assert verdict.decision is None
    assert verdict.withheld is not None and verdict.withheld.kind is WithheldKind.ENVIRONMENT
    assert "left records behind" in verdict.reasons[0]
    assert verdict.exit_code == 4


def test_records_left_behind_do_not_hide_a_rejection() -> None:
    verdict = run([*cases(passed=5, failed=3), left_behind()])
    assert verdict.decision is Decision.REJECTED
    assert not row(verdict, "nothing left behind").passed
    assert any("could not be deleted" in w for w in verdict.warnings)


def test_nothing_left_behind_can_be_turned_off_but_still_lists_the_records() -> None:
    verdict = run([*cases(passed=5), left_behind()], Gates(nothing_left_behind=False))
    assert verdict.decision is Decision.ACCEPTED
    cleanup = row(verdict, "nothing left behind")
    assert cleanup.passed and not cleanup.applicable and "lead 7" in cleanup.detail


def test_an_interrupted_run_has_no_decision_and_says_what_finished() -> None:
    stop = Withheld(kind=WithheldKind.INTERRUPTED, reason="interrupted after 5 of 9 case(s)",
                    finished=5, planned=9, not_run=["A", "B"])
    verdict = run(cases(passed=5), withheld=stop)
    assert verdict.decision is None and verdict.exit_code == 130
    assert verdict.withheld == stop
    assert verdict.reasons[0] == "interrupted after 5 of 9 case(s)"
    assert not verdict.suspended


def test_a_must_pass_case_left_out_of_the_run_withholds_instead_of_rejecting() -> None:
    verdict = run(cases(passed=10), gates=Gates(must_pass=["M1"]))
    assert row(verdict, "must pass: M1").actual == "not run"
    assert verdict.decision is None and verdict.exit_code == 3
    assert "must-pass case(s) M1 not run" in verdict.reasons[0]


def test_a_must_pass_case_the_target_set_up_left_out_withholds() -> None:
    excluded = case("not_applicable", case_id="M1")
    excluded.left_out_by = LeftOutBy.TARGET  # e.g. destructive_ok: false on this target
    verdict = run([*cases(passed=10), excluded], gates=Gates(must_pass=["M1"]))
    assert verdict.decision is None and verdict.exit_code == 3
    # but a product that lacks what a must-pass case needs is rejected
    lacking = run([*cases(passed=10), case("not_applicable", case_id="M1")],
                  gates=Gates(must_pass=["M1"]))
    assert lacking.decision is Decision.REJECTED
