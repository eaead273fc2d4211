"""The plan's waivers applied to results: the one rule both the run and a re-evaluation use.

A waiver is the plan's, not the run's: the waivers in the plan as it is now decide, so a
waiver added after a run protects its failure when the run is re-evaluated (`crmqa gates`),
and one removed from the plan stops protecting it. An expired waiver is still attached (the
gates then warn that it expired and count the failure again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from crmqa.core.results import CaseResult, Outcome, Waiver
from crmqa.plan.models import WaiverSpec


def waivers_by_case(waivers: Iterable[WaiverSpec]) -> dict[str, Waiver]:
    """The plan's waivers by the case they name; a later entry wins, as in YAML maps."""
    return {
        spec.case: Waiver(case=spec.case, owner=spec.owner, reason=spec.reason,
                          expires=spec.expires)
        for spec in waivers
    }


def apply_waivers(results: Sequence[CaseResult], waivers: Iterable[WaiverSpec]) -> list[CaseResult]:
    """`results` with each failure carrying the plan's waiver for its case, or none."""
    by_case = waivers_by_case(waivers)
    return [
        result.model_copy(update={"waiver": by_case.get(result.case_id)})
        if result.outcome is Outcome.FAILED and result.waiver != by_case.get(result.case_id)
        else result
        for result in results
    ]
