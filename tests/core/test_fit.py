"""The profile-fit rule: when failures say "the profile does not fit", not "the product fails"."""

from __future__ import annotations

from crmqa.core.fit import MIN_CALLS, FitTracker, blame_misfits, unfit_answer
from crmqa.core.results import BrokenKind, CaseResult, CheckResult, Outcome, StepResult


def case(case_id: str, action: str, status: int, outcome: Outcome = Outcome.FAILED) -> CaseResult:
    step = StepResult(number=1, name=action, kind="op", action=action, status=status,
                      outcome=outcome)
    return CaseResult(plan_id="p", case_id=case_id, title=case_id, category="functional",
                      module="leads", severity="normal", priority="medium", outcome=outcome,
                      message=f"step 1 ({action}): outcome: expected 'ok', got 'error'",
                      steps=[step])


def test_which_answers_are_unfit() -> None:
    assert unfit_answer("lead.create", 500) and unfit_answer("lead.get", 503)
    assert unfit_answer("lead.search", 404) and unfit_answer("lead.create", 405)
    assert not unfit_answer("lead.get", 404)  # a record that is not there is an answer
    assert not unfit_answer("lead.create", 422) and not unfit_answer("lead.create", None)


def test_every_call_unfit_in_enough_cases_is_a_misfit() -> None:
    tracker = FitTracker()
    for n in range(MIN_CALLS):
        tracker.observe_case(case(f"C{n}", "lead.create", 500))
    [misfit] = tracker.misfits()
    assert misfit.action == "lead.create" and misfit.calls == MIN_CALLS
    assert "every lead.create in this run answered HTTP 500 (3x)" in misfit.message()


def test_one_good_answer_or_too_little_evidence_is_no_misfit() -> None:
    tracker = FitTracker()
    for n in range(5):
        tracker.observe_case(case(f"C{n}", "lead.create", 500))
    tracker.observe_case(case("OK", "lead.create", 201, Outcome.PASSED))
    assert tracker.misfits() == []  # the profile reaches create: the 500s are the product's
    one_case = FitTracker()
    for _ in range(5):
        one_case.observe("C1", case("C1", "lead.create", 500).steps[0])
    assert one_case.misfits() == []  # one case's data may be what the CRM chokes on


def test_blame_turns_misfit_failures_into_environment_problems_only() -> None:
    results = [case(f"C{n}", "lead.create", 500) for n in range(3)]
    results.append(case("S1", "lead.search", 200, Outcome.FAILED))  # a real product failure
    blamed, misfits = blame_misfits(results)
    assert [m.action for m in misfits] == ["lead.create"]
    assert [r.outcome for r in blamed] == [Outcome.BROKEN] * 3 + [Outcome.FAILED]
    assert blamed[0].broken_kind is BrokenKind.ENVIRONMENT
    assert blamed[0].message.startswith("the target does not fit its profile")
    assert results[0].outcome is Outcome.FAILED  # the originals are left alone


def refused(case_id: str, action: str = "lead.create", wanted: object = "ok",
            answer: str = "rejected", outcome: Outcome = Outcome.FAILED) -> CaseResult:
    ok = answer in (wanted if isinstance(wanted, list) else [wanted])
    step = StepResult(number=1, name=action, kind="op", action=action,
                      status=422 if answer == "rejected" else 201, answer=answer,
                      outcome=outcome,
                      checks=[CheckResult(name="outcome", ok=ok, expected=wanted, actual=answer)])
    return CaseResult(plan_id="p", case_id=case_id, title=case_id, category="functional",
                      module="leads", severity="normal", priority="medium", outcome=outcome,
                      message=f"step 1 ({action}): outcome: expected 'ok', got '{answer}'",
                      steps=[step])


def test_writes_refused_every_time_they_should_work_are_a_misfit() -> None:
    """A profile mapping a field to a name the product does not know refuses every write."""
    results = [refused(f"C{n}") for n in range(MIN_CALLS)]
    blamed, [misfit] = blame_misfits(results)
    assert misfit.refusals and misfit.action == "lead.create"
    assert "refused every lead.create the plan expected to work (HTTP 422 (3x)" in misfit.message()
    assert {r.outcome for r in blamed} == {Outcome.BROKEN}
    assert {r.broken_kind for r in blamed} == {BrokenKind.ENVIRONMENT}


def test_one_accepted_write_makes_refusals_the_products() -> None:
    """A product that refuses some data (an apostrophe) while accepting other writes fails."""
    results = [refused(f"C{n}") for n in range(4)]
    results.append(refused("OK", answer="ok", outcome=Outcome.PASSED))
    blamed, misfits = blame_misfits(results)
    assert misfits == [] and blamed[0].outcome is Outcome.FAILED


def test_refusals_the_plan_expected_and_reads_prove_nothing() -> None:
    tracker = FitTracker()
    for n in range(4):  # negative cases: refused as expected, nothing about valid writes
        tracker.observe_case(refused(f"N{n}", wanted="rejected", outcome=Outcome.PASSED))
    assert tracker.misfits() == []
    for n in range(4):  # a read is never a refused write
        tracker.observe_case(refused(f"G{n}", action="lead.get"))
    assert tracker.misfits() == []


def test_a_worker_does_not_judge_refusals_before_the_end() -> None:
    tracker = FitTracker()
    for n in range(MIN_CALLS):
        tracker.observe_case(refused(f"C{n}", wanted=["ok", "conflict"]))
    assert tracker.misfit("lead.create", refusals=False) is None
    assert tracker.misfit("lead.create") is not None
