"""Does the target fit its profile? The rule that tells a profile mistake from product defects.

A profile whose paths or field mapping do not fit the CRM makes every call of an operation fail
the same way; counting each such failure as a product defect would bury the one real cause
under a stream of false ones. So:

A canonical operation (`lead.create`) does not fit the target when every call of it in the run
got an answer no working CRM gives to a request of that kind: a server error (HTTP 5xx), or, for
operations on a collection (create, list, search, import, export), a 404, 405 or 501 (the path
or the method is not there). The rule speaks only after `MIN_CALLS` such calls in `MIN_CASES`
different cases, and never when the operation got any other answer: one good answer proves the
profile can reach it, and the failures are then about the product.

A write (create, update, import) also does not fit when the CRM refused (400/422) every call
of it that the plan expected to work, `MIN_CALLS` calls in `MIN_CASES` cases, and accepted none:
a field the profile maps to the wrong name, or a field the product requires and the profile
never sends, refuses every write, while a product defect that refuses some data (an apostrophe,
a long name) leaves the other writes working. Refusals the plan expected (negative cases) prove
nothing either way and are not counted.

The engine applies the rule for unfit answers as a worker runs (later cases that use the
operation are not sent, and end broken: environment); refusals are only judged at the end,
once every case had its chance to show one accepted write. The run's conclusion applies both
to every worker's results (failed cases whose first failure was such a call become broken:
environment). Either way the run ends without a verdict (exit code 4) and the message names
the operation and the answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from crmqa.core.messages import Message, say
from crmqa.core.results import BrokenKind, CaseResult, Outcome, StepResult

MIN_CALLS = 3
MIN_CASES = 2
_COLLECTION_OPERATIONS = frozenset({"create", "list", "search", "import", "export"})
_MISSING = frozenset({404, 405, 501})
_WRITE_OPERATIONS = frozenset({"create", "update", "import"})


def unfit_answer(action: str, status: int | None) -> bool:
    """True for an answer that says the request did not reach a working operation."""
    if status is None:
        return False
    if status >= 500:
        return True
    operation = action.rpartition(".")[2]
    return operation in _COLLECTION_OPERATIONS and status in _MISSING


def refused_write(step: StepResult) -> bool:
    """True for a write the CRM refused although the plan expected it to work (the step's
    outcome check wanted `ok`)."""
    if step.answer != "rejected" or step.action.rpartition(".")[2] not in _WRITE_OPERATIONS:
        return False
    return any(check.name == "outcome" and not check.ok and _wants_ok(check.expected)
               for check in step.checks)


def _wants_ok(expected: object) -> bool:
    return expected == "ok" or (isinstance(expected, list) and "ok" in expected)


@dataclass
class _Tally:
    """Calls of one kind that may make an operation a misfit: how many, in which cases,
    answered what."""

    calls: int = 0
    cases: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, case_id: str, status: int) -> None:
        self.calls += 1
        self.cases.add(case_id)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def enough(self) -> bool:
        return self.calls >= MIN_CALLS and len(self.cases) >= MIN_CASES

    def misfit(self, action: str, refusals: bool = False) -> Misfit:
        ordered = sorted(self.statuses.items(), key=lambda item: (-item[1], item[0]))
        return Misfit(action, self.calls, len(self.cases), tuple(ordered), refusals=refusals)


@dataclass
class _Calls:
    unfit: _Tally = field(default_factory=_Tally)
    fit: int = 0
    accepted: int = 0  # answers `ok`
    refused: _Tally = field(default_factory=_Tally)  # see `refused_write`


@dataclass(frozen=True)
class Misfit:
    """An operation whose every call in the run got an unfit answer."""

    action: str
    calls: int
    cases: int
    statuses: tuple[tuple[int, int], ...]  # (status, how many), most frequent first
    refusals: bool = False  # every write the plan expected to work was refused

    def message(self) -> str:
        """What does not fit, in English."""
        return str(self.words())

    def blames(self, step: StepResult) -> bool:
        """Is this failed step one of the calls that make the operation a misfit?"""
        if step.action != self.action:
            return False
        return refused_write(step) if self.refusals else unfit_answer(step.action, step.status)

    def words(self) -> Message:
        """What does not fit, as a message for the reports to translate."""
        answers = ", ".join(f"HTTP {status}" + (f" ({n}x)" if n > 1 else "")
                            for status, n in self.statuses)
        if self.refusals:
            return say(
                "the target does not fit its profile: the CRM refused every %(action)s the "
                "plan expected to work (%(answers)s; %(calls)s calls in %(cases)s cases) and "
                "accepted none; check the field mapping and body_defaults of %(entity)s in the "
                "profile (the field errors are in the evidence; `crmqa probe` shows them)",
                action=self.action, answers=answers, calls=self.calls, cases=self.cases,
                entity=self.action.split(".", 1)[0],
            )
        return say(
            "the target does not fit its profile: every %(action)s in this run answered "
            "%(answers)s (%(calls)s calls in %(cases)s cases); check the profile's path, "
            "method and field mapping for %(entity)s (the first answer is in the evidence)",
            action=self.action, answers=answers, calls=self.calls, cases=self.cases,
            entity=self.action.split(".", 1)[0],
        )


class FitTracker:
    """Counts the answers each canonical operation got, and says which ones do not fit."""

    def __init__(self) -> None:
        self._calls: dict[str, _Calls] = {}

    def observe(self, case_id: str, step: StepResult) -> None:
        """Take one step's answer into account (only canonical operations that got one)."""
        if step.kind != "op" or step.status is None or not step.action:
            return
        calls = self._calls.setdefault(step.action, _Calls())
        if unfit_answer(step.action, step.status):
            calls.unfit.add(case_id, step.status)
        else:
            calls.fit += 1
        if step.answer == "ok":
            calls.accepted += 1
        elif refused_write(step):
            calls.refused.add(case_id, step.status)

    def observe_case(self, result: CaseResult) -> None:
        for step in result.steps:
            self.observe(result.case_id, step)

    def misfit(self, action: str, *, refusals: bool = True) -> Misfit | None:
        """The operation's misfit, if the run's answers show one; `refusals=False` leaves
        out refused writes (a worker judging while cases are still to come)."""
        calls = self._calls.get(action)
        if calls is None:
            return None
        if not calls.fit and calls.unfit.enough():
            return calls.unfit.misfit(action)
        if refusals and not calls.accepted and calls.refused.enough():
            return calls.refused.misfit(action, refusals=True)
        return None

    def misfits(self) -> list[Misfit]:
        found = (self.misfit(action) for action in sorted(self._calls))
        return [m for m in found if m is not None]


def blame_misfits(results: Iterable[CaseResult]) -> tuple[list[CaseResult], list[Misfit]]:
    """The results with failures caused by an unfit operation turned into environment
    problems, and the misfits found (an empty list when the profile fits)."""
    results = list(results)
    tracker = FitTracker()
    for result in results:
        tracker.observe_case(result)
    misfits = {m.action: m for m in tracker.misfits()}
    if not misfits:
        return results, []
    blamed: list[CaseResult] = []
    for result in results:
        cause = _first_problem(result)
        misfit = misfits.get(cause.action) if cause is not None else None
        if (result.outcome in (Outcome.FAILED, Outcome.BLOCKED) and misfit is not None
                and cause is not None and misfit.blames(cause)):
            result = result.model_copy(update={
                "outcome": Outcome.BROKEN,
                "broken_kind": BrokenKind.ENVIRONMENT,
                "message": f"{misfit.message()} — {result.message}",
            })
        blamed.append(result)
    return blamed, list(misfits.values())


def _first_problem(result: CaseResult) -> StepResult | None:
    return next((s for s in result.steps
                 if s.outcome in (Outcome.FAILED, Outcome.BROKEN)), None)
