"""The plan's waivers applied to results: the plan as it is now decides."""

from __future__ import annotations

from crmqa.core.results import CaseResult, Outcome, Waiver
from crmqa.plan.models import WaiverSpec
from crmqa.plan.waivers import apply_waivers


def result(case_id: str, outcome: Outcome, waiver: Waiver | None = None) -> CaseResult:
    return CaseResult(plan_id="p", case_id=case_id, title=case_id, category="functional",
                      module="m", severity="normal", priority="medium", outcome=outcome,
                      waiver=waiver)


def spec(case: str, owner: str = "Ana", expires: str = "2099-12-31") -> WaiverSpec:
    return WaiverSpec(case=case, owner=owner, reason="vendor fix", expires=expires)


def test_a_failure_gets_its_case_waiver_and_other_outcomes_are_untouched() -> None:
    results = [result("A", Outcome.FAILED), result("B", Outcome.PASSED),
               result("C", Outcome.FAILED)]
    waived = apply_waivers(results, [spec("A"), spec("B")])
    assert waived[0].waiver == Waiver(case="A", owner="Ana", reason="vendor fix",
                                      expires="2099-12-31")
    assert waived[1] is results[1] and waived[1].waiver is None  # a pass needs no waiver
    assert waived[2] is results[2]


def test_the_plan_replaces_a_stored_waiver_and_a_later_entry_wins() -> None:
    old = Waiver(case="A", owner="Bo", reason="old", expires="2000-01-01")
    stored = [result("A", Outcome.FAILED, old), result("B", Outcome.FAILED, old)]
    waived = apply_waivers(stored, [spec("A", owner="Cy"), spec("A", owner="Di")])
    assert waived[0].waiver is not None and waived[0].waiver.owner == "Di"
    assert waived[1].waiver is None  # withdrawn from the plan: no longer protected
    assert stored[0].waiver == old  # results are not changed in place
