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
from crmqa.core.messages import (
    AND_SEPARATOR,
    CLAUSE_SEPARATOR,
    N_,
    Message,
    Phrase,
    joined,
    say,
)
from crmqa.core.results import BrokenKind, CaseResult, Outcome, Waiver
from crmqa.gates.verdict import (
    Decision,
    GateKind,
    GateResult,
    GateWords,
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
        withheld = Withheld.worded(
            WithheldKind.ENVIRONMENT,
            say("the run left records behind in the CRM (%(left)s): delete them and run again "
                "(or set gates.nothing_left_behind: false)",
                left=cleanup.words.actual if cleanup.words else cleanup.actual),
        )
    if known is not None:
        withheld = known
    if withheld is not None:
        decision = None
    reasons: list[Phrase] = list(_reasons(rows))
    if withheld is not None:
        reasons.insert(0, withheld.reason_words or withheld.reason)
    warnings = _warnings(results, today)
    return Verdict(
        decision=decision,
        withheld=withheld,
        gate_results=rows,
        counts={outcome.value: counts[outcome.value] for outcome in Outcome},
        executed=executed,
        waived=len(waived),
        reasons=[str(reason) for reason in reasons],
        warnings=[str(warning) for warning in warnings],
        reason_words=reasons,
        warning_words=list(warnings),
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
    causes: list[Phrase] = []
    if broken:
        kinds = Counter(r.broken_kind or BrokenKind.CRMQA for r in broken)
        shown = ", ".join(r.case_id for r in broken[:5]) + (" ..." if len(broken) > 5 else "")
        causes.append(say("%(count)s case(s) broken (%(kinds)s: %(cases)s)",
                          count=len(broken), kinds=_broken_split(kinds), cases=shown))
    if excluded:
        causes.append(say("%(count)s case(s) left out by the run's set-up (the target's flags or "
                          "identities, or a dependency not selected)", count=len(excluded)))
    if not_run:
        causes.append(say("must-pass case(s) %(cases)s not run", cases=", ".join(not_run)))
    # A broken case or crmqa (exit 3) first, then the environment (4), then the selection (3).
    set_up = any(r.broken_kind is not BrokenKind.ENVIRONMENT for r in broken) or not broken
    return Withheld.worded(
        WithheldKind.TEST_DEFECT if set_up else WithheldKind.ENVIRONMENT,
        say("%(causes)s, and the decision depends on them: %(optimistic)s had they passed, "
            "%(pessimistic)s had they failed; fix what kept them from being judged and run "
            "again",
            causes=joined(causes, AND_SEPARATOR),
            # the decisions' names are messages of the reports' catalogue (ACCEPTED, ...)
            optimistic=say(optimistic.value), pessimistic=say(pessimistic.value)),
    )


_BROKEN_LABELS = {
    BrokenKind.ENVIRONMENT: N_("environment problems %(count)s"),
    BrokenKind.TEST_DEFECT: N_("test defects %(count)s"),
    BrokenKind.CRMQA: N_("crmqa errors %(count)s"),
}


def _broken_split(kinds: Counter[BrokenKind]) -> Phrase:
    return joined([say(_BROKEN_LABELS[k], count=n) for k, n in kinds.items()])


def _cleanup_row(results: Sequence[CaseResult], required: bool) -> GateResult:
    """Records the run created and could not delete: they are still in the CRM."""
    left = [(r.case_id, leftover) for r in results for leftover in r.leftovers]
    records: list[Phrase] = [
        f"{leftover.entity} {leftover.record_id} ({case_id})" for case_id, leftover in left[:10]
    ]
    if len(left) > 10:
        records.append(say("and %(count)s more", count=len(left) - 10))
    listed = joined(records, CLAUSE_SEPARATOR) if records else ""
    name, actual = say("nothing left behind"), say("%(count)s record(s) left", count=len(left))
    if not required:
        switched_off: list[Phrase] = ["gates.nothing_left_behind: false"]
        return GateResult.worded(
            GateWords(name=name, required=say("not required"), actual=actual,
                      detail=joined(switched_off + ([listed] if listed else []),
                                    CLAUSE_SEPARATOR)),
            kind=GateKind.CLEANUP, passed=True, applicable=False,
        )
    return GateResult.worded(
        GateWords(name=name, required=say("0 records left"), actual=actual, detail=listed),
        kind=GateKind.CLEANUP, passed=not left,
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
    detail: Phrase = "" if executed >= minimum else say(
        "only %(executed)s case(s) executed; the plan requires at least %(minimum)s for a "
        "verdict", executed=executed, minimum=minimum)
    return GateResult.worded(
        GateWords(name=say("executed cases"), required=f"≥ {minimum}", actual=str(executed),
                  detail=detail),
        kind=GateKind.MIN_EXECUTED,
        passed=executed >= minimum,
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
        counted = joined([say(_TALLY_LABELS[key], count=tally[key])
                          for key in ("passed", "failed", "broken")])
        aside: list[Phrase] = [
            say(_TALLY_LABELS[key], count=tally[key])
            for key in ("waived", "blocked", "skipped", "not_applicable")
            if tally[key]
        ]
        detail: Phrase = counted if not aside else say(
            "%(counted)s; not counted: %(aside)s", counted=counted, aside=joined(aside))
        name = say("pass rate: %(category)s", category=category)
        if judged == 0:
            rows.append(GateResult.worded(
                GateWords(name=name, required=f"≥ {_threshold(required)}", actual=say("n/a"),
                          detail=say("no executed cases; %(detail)s", detail=detail)),
                kind=GateKind.PASS_RATE, passed=True, applicable=False,
            ))
            continue
        ok = Fraction(passed * 100, judged) >= _fraction(required)
        rows.append(GateResult.worded(
            GateWords(name=name, required=f"≥ {_threshold(required)}",
                      actual=f"{_percent(passed, judged)} ({passed}/{judged})", detail=detail),
            kind=GateKind.PASS_RATE, passed=ok,
        ))
    return rows


_TALLY_LABELS = {
    "passed": N_("passed %(count)s"),
    "failed": N_("failed %(count)s"),
    "broken": N_("broken %(count)s"),
    "waived": N_("waived %(count)s"),
    "blocked": N_("blocked %(count)s"),
    "skipped": N_("skipped %(count)s"),
    "not_applicable": N_("not applicable %(count)s"),
}
# a must-pass case's outcome as a word
_OUTCOME_WORDS = {
    "passed": N_("passed"),
    "failed": N_("failed"),
    "broken": N_("broken"),
    "waived": N_("waived"),
    "blocked": N_("blocked"),
    "skipped": N_("skipped"),
    "not_applicable": N_("not applicable"),
}


def _outcome_word(label: str) -> Phrase:
    return say(_OUTCOME_WORDS[label]) if label in _OUTCOME_WORDS else label.replace("_", " ")


def _must_pass_rows(
    results: Sequence[CaseResult], must_pass: Sequence[str], today: date
) -> list[GateResult]:
    rows = []
    for case_id in must_pass:
        runs = [r for r in results if r.case_id == case_id]
        name, required = say("must pass: %(case)s", case=case_id), say("passed")
        if not runs:
            rows.append(GateResult.worded(
                GateWords(name=name, required=required, actual=say("not run"),
                          detail=say("a must-pass case that was not run cannot be accepted")),
                kind=GateKind.MUST_PASS, passed=False,
            ))
            continue
        labels: Counter[str] = Counter()
        waivers: list[Phrase] = []
        for result in runs:
            if result.outcome is Outcome.FAILED and waiver_active(result.waiver, today):
                labels["waived"] += 1
                assert result.waiver is not None  # waiver_active checked it
                waivers.append(say("%(owner)s until %(expires)s", owner=result.waiver.owner,
                                   expires=result.waiver.expires))
            else:
                labels[result.outcome.value] += 1
        ok = all(label in ("passed", "waived") for label in labels)
        actual: Phrase
        if len(runs) == 1:
            actual = _outcome_word(next(iter(labels)))
        else:
            actual = joined([say("%(count)s %(outcome)s", count=n, outcome=_outcome_word(label))
                             for label, n in labels.items()])
        # the CRM's own words, shown as written
        problems = "; ".join(
            [r.message for r in runs if r.outcome is not Outcome.PASSED and r.message][:3])
        detail: Phrase = problems
        if waivers:
            waived_by = say("waived by %(waivers)s", waivers=joined(waivers))
            detail = joined([waived_by, problems], CLAUSE_SEPARATOR) if problems else waived_by
        rows.append(GateResult.worded(
            GateWords(name=name, required=required, actual=actual, detail=detail),
            kind=GateKind.MUST_PASS, passed=ok,
        ))
    return rows


def _severity_row(
    defects: Sequence[OpenDefect], waived_defects: int, limit: str | None, scales: Scales
) -> GateResult:
    by_severity = Counter(d.severity for d in defects)
    actual: Phrase
    if defects:
        worst = min(by_severity, key=lambda name: _rank(name, scales.severity))
        actual = say("%(severity)s (%(count)s open)", severity=worst, count=by_severity[worst])
    else:
        worst, actual = None, say("no open defects")
    # severity names are the plan's own words: shown as written
    detail_parts = [
        f"{name} {by_severity[name]}"
        for name in sorted(by_severity, key=lambda name: _rank(name, scales.severity))
    ]
    details: list[Phrase] = []
    if detail_parts:
        details.append(say("open: %(levels)s", levels=", ".join(detail_parts)))
    unknown = [name for name in by_severity if _rank(name, scales.severity) < 0]
    if unknown:
        details.append(say("not on the scale, counted as most severe: %(levels)s",
                           levels=", ".join(sorted(unknown))))
    if waived_defects:
        details.append(say("%(count)s waived defect(s) not counted", count=waived_defects))
    detail = joined(details, CLAUSE_SEPARATOR) if details else ""
    name = say("highest open severity")
    if limit is None:
        return GateResult.worded(
            GateWords(name=name, required=say("no limit"), actual=actual, detail=detail),
            kind=GateKind.SEVERITY, passed=True,
        )
    ok = worst is None or _rank(worst, scales.severity) >= _rank(limit, scales.severity)
    return GateResult.worded(
        GateWords(name=name, required=say("nothing above %(severity)s", severity=limit),
                  actual=actual, detail=detail),
        kind=GateKind.SEVERITY, passed=ok,
    )


def _share_row(
    name: Message,
    level: Level | None,
    defects: Sequence[OpenDefect],
    attribute: str,
    max_share: float,
    min_defects: int,
) -> GateResult:
    share = _percent_of_share(max_share)
    required = say("≤ %(share)s of open defects", share=share)
    total = len(defects)
    if level is None:
        return GateResult.worded(
            GateWords(name=name, required=required, actual=say("n/a"),
                      detail=say("the scale is empty")),
            kind=GateKind.SUSPENSION, passed=True, applicable=False,
        )
    if total < min_defects:
        return GateResult.worded(
            GateWords(name=name, required=required, actual=say("n/a"),
                      detail=say("applies from %(minimum)s open defects; %(count)s open",
                                 minimum=min_defects, count=total)),
            kind=GateKind.SUSPENSION, passed=True, applicable=False,
        )
    top = sum(1 for d in defects if getattr(d, attribute) == level.name)
    ok = Fraction(top, total) <= _fraction(max_share)
    actual = say("%(percent)s (%(top)s of %(total)s are %(level)s)",
                 percent=_percent(top, total), top=top, total=total, level=level.name)
    detail: Phrase = "" if ok else say("more than %(share)s are %(level)s", share=share,
                                       level=level.name)
    return GateResult.worded(
        GateWords(name=name, required=required, actual=actual, detail=detail),
        kind=GateKind.SUSPENSION, passed=ok,
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
    required: Phrase
    detail: Phrase
    if previously_suspended:
        limit = rules.resume_at
        required = say("≤ %(limit)s to resume", limit=limit)
        detail = say("testing was suspended; it resumes once open defects are down to "
                     "%(limit)s", limit=limit)
    else:
        limit, required, detail = rules.max_open_defects, f"≤ {rules.max_open_defects}", ""
    count_row = GateResult.worded(
        GateWords(name=say("open defects"), required=required, actual=str(total),
                  detail=detail),
        kind=GateKind.SUSPENSION, passed=total <= limit,
    )
    top_severity = scales.severity[0] if scales.severity else None
    top_priority = scales.priority[0] if scales.priority else None
    return [
        count_row,
        _share_row(
            say("share of top severity"), top_severity, defects, "severity",
            rules.max_share_top_severity, rules.min_defects_for_shares,
        ),
        _share_row(
            say("share of top priority"), top_priority, defects, "priority",
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


def _reasons(rows: Sequence[GateResult]) -> list[Phrase]:
    failing = sorted(
        (row for row in rows if not row.passed), key=lambda row: _REASON_ORDER.index(row.kind)
    )
    return [
        say("%(gate)s: %(actual)s (required %(required)s)", gate=words.name,
            actual=words.actual, required=words.required)
        for words in (
            row.words or GateWords(name=row.name, required=row.required, actual=row.actual)
            for row in failing
        )
    ]


def _warnings(results: Sequence[CaseResult], today: date) -> list[Phrase]:
    warnings: list[Phrase] = []
    broken = [r for r in results if r.outcome is Outcome.BROKEN]
    if broken:
        kinds = Counter(r.broken_kind or BrokenKind.CRMQA for r in broken)
        warnings.append(say(
            "%(count)s case(s) broken (%(kinds)s): they count as not passed in the pass rates "
            "and opened no defects; fix them and re-run for a complete verdict",
            count=len(broken), kinds=_broken_split(kinds)))
    left = sum(len(r.leftovers) for r in results)
    if left:
        warnings.append(say(
            "%(count)s record(s) the run created could not be deleted and are still in the CRM "
            "(see the 'nothing left behind' row)", count=left))
    blocked = sum(1 for r in results if r.outcome is Outcome.BLOCKED)
    if blocked:
        warnings.append(say(
            "%(count)s case(s) blocked by a failed prerequisite: not counted in the pass rates",
            count=blocked))
    waived = [r for r in results if r.outcome is Outcome.FAILED and waiver_active(r.waiver, today)]
    if waived:
        warnings.append(say(
            "%(count)s failed case(s) waived: kept out of the gates until their waivers expire",
            count=len(waived)))
    for result in results:
        if (
            result.outcome is Outcome.FAILED
            and result.waiver is not None
            and not waiver_active(result.waiver, today)
        ):
            warnings.append(say("the waiver for %(case)s expired (%(expires)s): its failure "
                                "counts", case=result.case_id, expires=result.waiver.expires))
    return warnings
