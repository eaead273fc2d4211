"""The acceptance gates: from a run's case results and the open defects to a verdict.

Every rule, formula and default is described in docs/gates.md; keep the two in step.
The function is pure: the suspension state that carries over between runs (the `resume_at`
hysteresis) comes in as `previously_suspended` and goes out as `Verdict.suspended`, and the
controller keeps it in the ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from crmqa.core.errors import CrmqaError
from crmqa.core.results import BrokenKind, CaseResult, Outcome, Waiver
from crmqa.gates.verdict import (
    Decision,
    GateKind,
    GateResult,
    OpenDefect,
    Verdict,
    Withheld,
    WithheldKind,
)
from crmqa.plan.models import Category, Gates, Level, PassRates, Scales, Suspension


class GateConfigError(CrmqaError):
    """The gates name something the scales do not have (a bad plan, exit code 3)."""


# Categories are shown in this order; anything else (a category from a newer plan) follows.
CATEGORY_ORDER: tuple[str, ...] = tuple(category.value for category in Category)
# Pass rate thresholds are percentages and shares like 1/3 arrive as floats: compare exactly
# against the nearest simple fraction so that 3 of 9 is "exactly a third", not just above it.
_THRESHOLD_DENOMINATOR = 10_000


def waiver_active(waiver: Waiver | None, today: date) -> bool:
    """True when `waiver` exists and has not expired: it is valid through its expiry date."""
    if waiver is None:
        return False
    try:
        expires = date.fromisoformat(waiver.expires)
    except ValueError:
        # A waiver with an unreadable date protects nothing: failing loudly here would stop a
        # verdict over a typo the plan loader already reports.
        return False
    return today <= expires


def required_pass_rate(category: str, rates: PassRates) -> float:
    """The minimum pass rate (percent) for `category`: its override, else the family default."""
    if category == Category.FUNCTIONAL.value:
        return rates.functional
    # Only real categories have an override; "non_functional" itself is the family default.
    override = rates.model_dump().get(category) if category in CATEGORY_ORDER else None
    return float(override) if override is not None else rates.non_functional


def evaluate(
    results: Sequence[CaseResult],
    gates: Gates,
    scales: Scales,
    open_defects: Sequence[OpenDefect],
    today: date,
    *,
    previously_suspended: bool = False,
    withheld: Withheld | None = None,
) -> Verdict:
    """Apply every gate to one run and decide ACCEPTED, REJECTED or SUSPENDED, or nothing.

    `open_defects` are the campaign's open defects after this run (the ledger's
    `record_run` returns them). A failed, unwaived case of this run whose case id has no open
    defect in that list still counts as one, so that a caller without a ledger cannot
    accept a failing run by passing an empty list. `previously_suspended` is the state the
    campaign's state before this run: once suspended, testing resumes only when the open
    defects are down to `gates.suspension.resume_at`.

    The decision is withheld (`Verdict.decision` None, `Verdict.withheld` saying why) when the
    run cannot speak about the product: when broken cases decide it (the decision with them
    passed differs from the decision with them failed), when an otherwise accepted run left
    records behind, or when the caller already knows it cannot (`withheld`: the run was
    interrupted, or the target does not fit its profile).

    Raises `GateConfigError` when `gates.max_open_severity` is not on the severity scale.
    """
    _check_config(gates, scales)
    counts = Counter(result.outcome.value for result in results)
    waived = [r for r in results if r.outcome is Outcome.FAILED and waiver_active(r.waiver, today)]
    executed = sum(counts[o.value] for o in (Outcome.PASSED, Outcome.FAILED, Outcome.BROKEN))

    rows = _product_rows(results, gates, scales, open_defects, today, previously_suspended)
    decision: Decision | None = _decide(rows)
    known = withheld
    withheld = _broken_decide(results, rows, gates, scales, open_defects, today,
                              previously_suspended)
    cleanup = _cleanup_row(results, gates.nothing_left_behind)
    rows.append(cleanup)
    if withheld is None and not cleanup.passed and decision is Decision.ACCEPTED:
        withheld = Withheld(
            kind=WithheldKind.ENVIRONMENT,
            reason=f"the run left records behind in the CRM ({cleanup.actual}): delete them "
            "and run again (or set gates.nothing_left_behind: false)",
        )
    if known is not None:
        withheld = known
    if withheld is not None:
        decision = None
    reasons = _reasons(rows)
    if withheld is not None:
        reasons.insert(0, withheld.reason)
    return Verdict(
        decision=decision,
        withheld=withheld,
        gate_results=rows,
        counts={outcome.value: counts[outcome.value] for outcome in Outcome},
        executed=executed,
        waived=len(waived),
        reasons=reasons,
        warnings=_warnings(results, today),
        suspended=decision is Decision.SUSPENDED,
        evaluated_on=today,
    )


def _product_rows(
    results: Sequence[CaseResult],
    gates: Gates,
    scales: Scales,
    open_defects: Sequence[OpenDefect],
    today: date,
    previously_suspended: bool,
) -> list[GateResult]:
    """The rows that judge the product, in display order."""
    counts = Counter(result.outcome.value for result in results)
    executed = sum(counts[o.value] for o in (Outcome.PASSED, Outcome.FAILED, Outcome.BROKEN))
    defects = _effective_defects(results, open_defects, today)
    waived_defects = sum(1 for d in open_defects if waiver_active(d.waiver, today))
    rows: list[GateResult] = [_min_executed_row(executed, gates.min_executed)]
    rows += _pass_rate_rows(results, gates.pass_rate, today)
    rows += _must_pass_rows(results, gates.must_pass, today)
    rows.append(_severity_row(defects, waived_defects, gates.max_open_severity, scales))
    rows += _suspension_rows(defects, gates.suspension, scales, previously_suspended)
    return rows


def _broken_decide(
    results: Sequence[CaseResult],
    rows: Sequence[GateResult],
    gates: Gates,
    scales: Scales,
    open_defects: Sequence[OpenDefect],
    today: date,
    previously_suspended: bool,
) -> Withheld | None:
    """Withhold the decision when it hangs on cases that were not judged.

    A broken case was not judged: the CRM was down, the case or crmqa broke. A must-pass case
    that did not run at all (left out of the selection), or that the target's own set-up left
    out (its flags or identities), was not judged either. The rows count them as not passed
    (the pessimistic reading); if the decision were different had all of them passed, the run
    says more about its set-up than about the product.
    """
    broken = [r for r in results if r.outcome is Outcome.BROKEN]
    excluded = [r for r in results if r.left_out_by is not None]
    ran = {r.case_id for r in results if r.left_out_by is None}
    not_run = [case_id for case_id in gates.must_pass if case_id not in ran]
    if not broken and not not_run and not excluded:
        return None
    as_passed = [
        r.model_copy(update={"outcome": Outcome.PASSED})
        if r.outcome is Outcome.BROKEN or r.left_out_by is not None else r
        for r in results
    ]
    optimistic_gates = gates.model_copy(
        update={"must_pass": [c for c in gates.must_pass if c not in not_run]})
    pessimistic = _decide(rows)
    optimistic = _decide(_product_rows(as_passed, optimistic_gates, scales, open_defects, today,
                                       previously_suspended))
    if optimistic is pessimistic:
        return None
    causes = []
    if broken:
        kinds = Counter(r.broken_kind or BrokenKind.CRMQA for r in broken)
        shown = ", ".join(r.case_id for r in broken[:5]) + (" ..." if len(broken) > 5 else "")
        causes.append(f"{len(broken)} case(s) broken ({_broken_split(kinds)}: {shown})")
    if excluded:
        causes.append(f"{len(excluded)} case(s) left out by the run's set-up (the target's "
                      "flags or identities, or a dependency not selected)")
    if not_run:
        causes.append(f"must-pass case(s) {', '.join(not_run)} not run")
    # A broken case or crmqa (exit 3) first, then the environment (4), then the selection (3).
    set_up = any(r.broken_kind is not BrokenKind.ENVIRONMENT for r in broken) or not broken
    return Withheld(
        kind=WithheldKind.TEST_DEFECT if set_up else WithheldKind.ENVIRONMENT,
        reason=(
            f"{' and '.join(causes)}, and the decision depends on them: {optimistic.value} had "
            f"they passed, {pessimistic.value} had they failed; fix what kept them from being "
            "judged and run again"
        ),
    )


def _broken_split(kinds: Counter[BrokenKind]) -> str:
    labels = {
        BrokenKind.ENVIRONMENT: "environment problems",
        BrokenKind.TEST_DEFECT: "test defects",
        BrokenKind.CRMQA: "crmqa errors",
    }
    return ", ".join(f"{labels[k]} {n}" for k, n in kinds.items())


def _cleanup_row(results: Sequence[CaseResult], required: bool) -> GateResult:
    """Records the run created and could not delete: they are still in the CRM."""
    left = [(r.case_id, leftover) for r in results for leftover in r.leftovers]
    listed = "; ".join(
        f"{leftover.entity} {leftover.record_id} ({case_id})" for case_id, leftover in left[:10]
    ) + (f"; and {len(left) - 10} more" if len(left) > 10 else "")
    actual = f"{len(left)} record(s) left"
    if not required:
        return GateResult(
            name="nothing left behind", kind=GateKind.CLEANUP,
            required="not required", actual=actual,
            passed=True, applicable=False,
            detail="gates.nothing_left_behind: false" + (f"; {listed}" if listed else ""),
        )
    return GateResult(
        name="nothing left behind", kind=GateKind.CLEANUP,
        required="0 records left", actual=actual, passed=not left,
        detail=listed,
    )


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _RunFailure:
    """A failure of this run that the open-defect list did not mention."""

    case_id: str
    severity: str
    priority: str
    waiver: Waiver | None = None


def _fraction(value: float) -> Fraction:
    return Fraction(value).limit_denominator(_THRESHOLD_DENOMINATOR)


def _percent(numerator: int, denominator: int) -> str:
    """A percentage with one decimal, rounded down so that 94.96% never shows as 95.0%."""
    tenths = (numerator * 1000) // denominator
    return f"{tenths // 10}.{tenths % 10}%"


def _threshold(value: float) -> str:
    return f"{value:g}%"


def _rank(name: str, levels: Sequence[Level]) -> int:
    """Position on a scale, 0 = most severe; unknown names rank above everything (-1)."""
    for index, level in enumerate(levels):
        if level.name == name:
            return index
    return -1


def _check_config(gates: Gates, scales: Scales) -> None:
    limit = gates.max_open_severity
    if limit is not None and _rank(limit, scales.severity) < 0:
        names = ", ".join(level.name for level in scales.severity) or "(empty scale)"
        raise GateConfigError(
            f"gates.max_open_severity is {limit!r}, which is not on the severity scale "
            f"({names})"
        )


def _effective_defects(
    results: Sequence[CaseResult], open_defects: Sequence[OpenDefect], today: date
) -> list[OpenDefect]:
    """Open, unwaived defects, plus this run's unwaived failures the list does not cover."""
    active: list[OpenDefect] = [d for d in open_defects if not waiver_active(d.waiver, today)]
    known_cases = {d.case_id for d in open_defects}
    for result in results:
        if (
            result.outcome is Outcome.FAILED
            and not waiver_active(result.waiver, today)
            and result.case_id not in known_cases
        ):
            active.append(_RunFailure(result.case_id, result.severity, result.priority))
            known_cases.add(result.case_id)
    return active


def _min_executed_row(executed: int, minimum: int) -> GateResult:
    return GateResult(
        name="executed cases",
        kind=GateKind.MIN_EXECUTED,
        required=f"≥ {minimum}",
        actual=str(executed),
        passed=executed >= minimum,
        detail=(
            "" if executed >= minimum
            else f"only {executed} case(s) executed; the plan requires at least {minimum} "
            "for a verdict"
        ),
    )


def _ordered_categories(categories: Iterable[str]) -> list[str]:
    present = set(categories)
    known = [c for c in CATEGORY_ORDER if c in present]
    return known + sorted(present - set(CATEGORY_ORDER))


def _pass_rate_rows(
    results: Sequence[CaseResult], rates: PassRates, today: date
) -> list[GateResult]:
    rows = []
    for category in _ordered_categories(r.category for r in results):
        in_category = [r for r in results if r.category == category]
        tally: Counter[str] = Counter()
        for result in in_category:
            if result.outcome is Outcome.FAILED and waiver_active(result.waiver, today):
                tally["waived"] += 1
            else:
                tally[result.outcome.value] += 1
        passed, failed, broken = tally["passed"], tally["failed"], tally["broken"]
        judged = passed + failed + broken
        required = required_pass_rate(category, rates)
        parts = [f"passed {passed}", f"failed {failed}", f"broken {broken}"]
        aside = [
            f"{label} {tally[key]}"
            for key, label in (
                ("waived", "waived"),
                ("blocked", "blocked"),
                ("skipped", "skipped"),
                ("not_applicable", "not applicable"),
            )
            if tally[key]
        ]
        detail = ", ".join(parts) + (f"; not counted: {', '.join(aside)}" if aside else "")
        if judged == 0:
            rows.append(GateResult(
                name=f"pass rate: {category}",
                kind=GateKind.PASS_RATE,
                required=f"≥ {_threshold(required)}",
                actual="n/a",
                passed=True,
                applicable=False,
                detail="no executed cases; " + detail,
            ))
            continue
        ok = Fraction(passed * 100, judged) >= _fraction(required)
        rows.append(GateResult(
            name=f"pass rate: {category}",
            kind=GateKind.PASS_RATE,
            required=f"≥ {_threshold(required)}",
            actual=f"{_percent(passed, judged)} ({passed}/{judged})",
            passed=ok,
            detail=detail,
        ))
    return rows


def _must_pass_rows(
    results: Sequence[CaseResult], must_pass: Sequence[str], today: date
) -> list[GateResult]:
    rows = []
    for case_id in must_pass:
        runs = [r for r in results if r.case_id == case_id]
        if not runs:
            rows.append(GateResult(
                name=f"must pass: {case_id}",
                kind=GateKind.MUST_PASS,
                required="passed",
                actual="not run",
                passed=False,
                detail="a must-pass case that was not run cannot be accepted",
            ))
            continue
        labels: Counter[str] = Counter()
        waivers: list[str] = []
        for result in runs:
            if result.outcome is Outcome.FAILED and waiver_active(result.waiver, today):
                labels["waived"] += 1
                assert result.waiver is not None  # waiver_active checked it
                waivers.append(f"{result.waiver.owner} until {result.waiver.expires}")
            else:
                labels[result.outcome.value] += 1
        ok = all(label in ("passed", "waived") for label in labels)
        if len(runs) == 1:
            actual = next(iter(labels)).replace("_", " ")
        else:
            actual = ", ".join(f"{n} {label.replace('_', ' ')}" for label, n in labels.items())
        problems = [r.message for r in runs if r.outcome is not Outcome.PASSED and r.message]
        detail = "; ".join(problems[:3])
        if waivers:
            detail = ("waived by " + ", ".join(waivers) + ("; " + detail if detail else ""))
        rows.append(GateResult(
            name=f"must pass: {case_id}",
            kind=GateKind.MUST_PASS,
            required="passed",
            actual=actual,
            passed=ok,
            detail=detail,
        ))
    return rows


def _severity_row(
    defects: Sequence[OpenDefect], waived_defects: int, limit: str | None, scales: Scales
) -> GateResult:
    by_severity = Counter(d.severity for d in defects)
    if defects:
        worst = min(by_severity, key=lambda name: _rank(name, scales.severity))
        actual = f"{worst} ({by_severity[worst]} open)"
    else:
        worst, actual = None, "no open defects"
    detail_parts = [
        f"{name} {by_severity[name]}"
        for name in sorted(by_severity, key=lambda name: _rank(name, scales.severity))
    ]
    detail = ("open: " + ", ".join(detail_parts)) if detail_parts else ""
    unknown = [name for name in by_severity if _rank(name, scales.severity) < 0]
    if unknown:
        detail += f"; not on the scale, counted as most severe: {', '.join(sorted(unknown))}"
    if waived_defects:
        detail += ("; " if detail else "") + f"{waived_defects} waived defect(s) not counted"
    if limit is None:
        return GateResult(
            name="highest open severity", kind=GateKind.SEVERITY, required="no limit",
            actual=actual, passed=True, detail=detail,
        )
    ok = worst is None or _rank(worst, scales.severity) >= _rank(limit, scales.severity)
    return GateResult(
        name="highest open severity",
        kind=GateKind.SEVERITY,
        required=f"nothing above {limit}",
        actual=actual,
        passed=ok,
        detail=detail,
    )


def _share_row(
    name: str,
    level: Level | None,
    defects: Sequence[OpenDefect],
    attribute: str,
    max_share: float,
    min_defects: int,
) -> GateResult:
    required = f"≤ {_percent_of_share(max_share)} of open defects"
    total = len(defects)
    if level is None:
        return GateResult(
            name=name, kind=GateKind.SUSPENSION, required=required, actual="n/a",
            passed=True, applicable=False, detail="the scale is empty",
        )
    if total < min_defects:
        return GateResult(
            name=name, kind=GateKind.SUSPENSION, required=required, actual="n/a",
            passed=True, applicable=False,
            detail=f"applies from {min_defects} open defects; {total} open",
        )
    top = sum(1 for d in defects if getattr(d, attribute) == level.name)
    ok = Fraction(top, total) <= _fraction(max_share)
    return GateResult(
        name=name,
        kind=GateKind.SUSPENSION,
        required=required,
        actual=f"{_percent(top, total)} ({top} of {total} are {level.name})",
        passed=ok,
        detail="" if ok else f"more than {_percent_of_share(max_share)} are {level.name}",
    )


def _percent_of_share(share: float) -> str:
    return f"{share * 100:.4g}%"


def _suspension_rows(
    defects: Sequence[OpenDefect],
    rules: Suspension,
    scales: Scales,
    previously_suspended: bool,
) -> list[GateResult]:
    total = len(defects)
    # Once suspended, testing resumes only at the lower `resume_at` bound (hysteresis).
    if previously_suspended:
        limit, required = rules.resume_at, f"≤ {rules.resume_at} to resume"
        detail = f"testing was suspended; it resumes once open defects are down to {limit}"
    else:
        limit, required, detail = rules.max_open_defects, f"≤ {rules.max_open_defects}", ""
    count_row = GateResult(
        name="open defects",
        kind=GateKind.SUSPENSION,
        required=required,
        actual=str(total),
        passed=total <= limit,
        detail=detail,
    )
    top_severity = scales.severity[0] if scales.severity else None
    top_priority = scales.priority[0] if scales.priority else None
    return [
        count_row,
        _share_row(
            "share of top severity", top_severity, defects, "severity",
            rules.max_share_top_severity, rules.min_defects_for_shares,
        ),
        _share_row(
            "share of top priority", top_priority, defects, "priority",
            rules.max_share_top_priority, rules.min_defects_for_shares,
        ),
    ]


def _decide(rows: Sequence[GateResult]) -> Decision:
    failing = [row for row in rows if not row.passed and row.kind is not GateKind.CLEANUP]
    if any(row.kind is GateKind.SUSPENSION for row in failing):
        return Decision.SUSPENDED
    if failing:
        return Decision.REJECTED
    return Decision.ACCEPTED


_REASON_ORDER = (
    GateKind.SUSPENSION, GateKind.MIN_EXECUTED, GateKind.MUST_PASS, GateKind.SEVERITY,
    GateKind.PASS_RATE, GateKind.CLEANUP,
)


def _reasons(rows: Sequence[GateResult]) -> list[str]:
    failing = sorted(
        (row for row in rows if not row.passed), key=lambda row: _REASON_ORDER.index(row.kind)
    )
    return [f"{row.name}: {row.actual} (required {row.required})" for row in failing]


def _warnings(results: Sequence[CaseResult], today: date) -> list[str]:
    warnings = []
    broken = [r for r in results if r.outcome is Outcome.BROKEN]
    if broken:
        kinds = Counter(r.broken_kind or BrokenKind.CRMQA for r in broken)
        warnings.append(
            f"{len(broken)} case(s) broken ({_broken_split(kinds)}): they count as not passed "
            "in the pass rates and opened no defects; fix them and re-run for a complete verdict"
        )
    left = sum(len(r.leftovers) for r in results)
    if left:
        warnings.append(
            f"{left} record(s) the run created could not be deleted and are still in the CRM "
            "(see the 'nothing left behind' row)"
        )
    blocked = sum(1 for r in results if r.outcome is Outcome.BLOCKED)
    if blocked:
        warnings.append(
            f"{blocked} case(s) blocked by a failed prerequisite: not counted in the pass rates"
        )
    waived = [r for r in results if r.outcome is Outcome.FAILED and waiver_active(r.waiver, today)]
    if waived:
        warnings.append(
            f"{len(waived)} failed case(s) waived: kept out of the gates until their waivers "
            "expire"
        )
    for result in results:
        if (
            result.outcome is Outcome.FAILED
            and result.waiver is not None
            and not waiver_active(result.waiver, today)
        ):
            warnings.append(
                f"the waiver for {result.case_id} expired ({result.waiver.expires}): "
                "its failure counts"
            )
    return warnings
