"""What changed between two runs (or two builds) of a campaign: failures, fixes, timings.

Cases are matched by case id + parameters, the key the ledger uses, so that parametrised
variants are compared with themselves. Only outcomes that speak about the product count as a
failure or a fix: a case broken in one run and passed in the other "changed", it was not fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from crmqa.core.results import CaseResult, Outcome
from crmqa.ledger import params_hash

# A passed case's time changes when it moves by both this factor and this many milliseconds:
# a 3 ms case taking 6 ms is noise, a 2 s case taking 2.4 s is within normal spread.
SLOWER_FACTOR = 1.5
MIN_CHANGE_MS = 200.0


@dataclass
class CaseChange:
    """One case in both runs (or in one of them): outcomes and durations."""

    case_id: str
    params: dict[str, object]
    title: str
    before: str  # outcome in run A, "absent" when the case did not run there
    after: str
    before_ms: float = 0.0
    after_ms: float = 0.0
    message: str = ""  # the failure message in run B (or A, for a fix)

    @property
    def label(self) -> str:
        if not self.params:
            return self.case_id
        return self.case_id + " [" + ", ".join(f"{k}={v}" for k, v in self.params.items()) + "]"


@dataclass
class RunDiff:
    run_a: str
    run_b: str
    new_failures: list[CaseChange] = field(default_factory=list)
    fixed: list[CaseChange] = field(default_factory=list)
    still_failing: list[CaseChange] = field(default_factory=list)
    other_changes: list[CaseChange] = field(default_factory=list)  # broken, blocked, absent...
    slower: list[CaseChange] = field(default_factory=list)
    faster: list[CaseChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new_failures or self.fixed or self.other_changes or self.slower
                    or self.faster)


_ABSENT = "absent"


def _by_key(results: Sequence[CaseResult]) -> dict[tuple[str, str], CaseResult]:
    chosen: dict[tuple[str, str], CaseResult] = {}
    for result in results:
        key = (result.case_id, params_hash(result.params))
        # a rerun inside one run: the failure is what a reader must see
        if key not in chosen or result.outcome is Outcome.FAILED:
            chosen[key] = result
    return chosen


def diff_runs(
    run_a: str,
    results_a: Sequence[CaseResult],
    run_b: str,
    results_b: Sequence[CaseResult],
    *,
    slower_factor: float = SLOWER_FACTOR,
    min_change_ms: float = MIN_CHANGE_MS,
) -> RunDiff:
    """Compare run B with the earlier run A."""
    before, after = _by_key(results_a), _by_key(results_b)
    diff = RunDiff(run_a, run_b)
    for key in [*before, *(k for k in after if k not in before)]:
        a, b = before.get(key), after.get(key)
        any_ = b or a
        assert any_ is not None
        change = CaseChange(
            case_id=key[0],
            params=dict(any_.params),
            title=any_.title,
            before=a.outcome.value if a else _ABSENT,
            after=b.outcome.value if b else _ABSENT,
            before_ms=a.duration_ms if a else 0.0,
            after_ms=b.duration_ms if b else 0.0,
            message=(b.message if b and b.outcome is not Outcome.PASSED else
                     a.message if a else ""),
        )
        failed_a = change.before == Outcome.FAILED.value
        failed_b = change.after == Outcome.FAILED.value
        if failed_b and not failed_a:
            diff.new_failures.append(change)
        elif failed_a and change.after == Outcome.PASSED.value:
            diff.fixed.append(change)
        elif failed_a and failed_b:
            diff.still_failing.append(change)
        elif change.before != change.after:
            diff.other_changes.append(change)
        elif change.before == change.after == Outcome.PASSED.value:
            moved = change.after_ms - change.before_ms
            if abs(moved) >= min_change_ms:
                if change.after_ms >= change.before_ms * slower_factor:
                    diff.slower.append(change)
                elif change.before_ms >= change.after_ms * slower_factor:
                    diff.faster.append(change)
    return diff
