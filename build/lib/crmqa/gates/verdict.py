"""What the gates decide: the verdict, one row per gate, and the defects they look at.

The verdict is a plain pydantic model so that it can be written as verdict.json and read back.
Gates depend on core and plan only: the open defects they weigh are described by a small
protocol (`OpenDefect`) that the ledger's `Defect` satisfies, so gates never import the ledger.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field, computed_field

from crmqa.core.messages import Phrase
from crmqa.core.results import Waiver


class Decision(StrEnum):
    """The outcome of an acceptance run. SUSPENDED wins over REJECTED, REJECTED over ACCEPTED."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    SUSPENDED = "SUSPENDED"


EXIT_CODES: dict[Decision, int] = {
    Decision.ACCEPTED: 0,
    Decision.REJECTED: 1,
    Decision.SUSPENDED: 2,
}


class GateKind(StrEnum):
    """Which family a gate row belongs to.

    Suspension rows suspend; cleanup rows speak about the run, not the product, so they
    withhold an acceptance instead of rejecting; all others reject.
    """

    MIN_EXECUTED = "min_executed"
    PASS_RATE = "pass_rate"
    SEVERITY = "severity"
    MUST_PASS = "must_pass"
    SUSPENSION = "suspension"
    CLEANUP = "cleanup"


class WithheldKind(StrEnum):
    """Why a run ended without a decision about the product."""

    ENVIRONMENT = "environment"  # the target was down, did not fit its profile, kept records
    TEST_DEFECT = "test_defect"  # a case, suite or crmqa itself broke at run time
    INTERRUPTED = "interrupted"  # the run was stopped (Ctrl-C) before every case finished


WITHHELD_EXIT_CODES: dict[WithheldKind, int] = {
    WithheldKind.ENVIRONMENT: 4,
    WithheldKind.TEST_DEFECT: 3,
    WithheldKind.INTERRUPTED: 130,
}


class Withheld(BaseModel):
    """The run cannot speak about the product: why, and what had finished.

    `reason` is the English sentence; `reason_words` the same as a message for the reports to
    translate (absent in verdicts written before it existed: the reports then show `reason`).
    """

    kind: WithheldKind
    reason: str
    reason_words: Phrase | None = None
    finished: int | None = Field(None, description="cases that finished (interrupted runs)")
    planned: int | None = Field(None, description="cases the run was to run (interrupted runs)")
    not_run: list[str] = Field(
        default_factory=list, description="ids of the selected cases that never finished"
    )

    @classmethod
    def worded(cls, kind: WithheldKind, reason: Phrase, **fields: Any) -> Withheld:
        """Withheld for `reason`, kept both as English and as a message to translate."""
        return cls(kind=kind, reason=str(reason), reason_words=reason, **fields)


class GateWords(BaseModel):
    """A gate row's texts as phrases: messages to translate, or data shown as written."""

    name: Phrase
    required: Phrase
    actual: Phrase
    detail: Phrase = ""


class GateResult(BaseModel):
    """One row of the "actual vs required" table.

    `required` and `actual` are display strings ("≥ 95%", "94.7% (18/19)"); `passed` is the
    verdict of this row. A row that does not apply (a category with no executed cases, a share
    rule below its minimum number of defects) has `applicable` False and always passes.
    The strings are English; `words` holds the same texts as messages that the reports show
    in the run's language (absent in verdicts written before it existed).
    """

    name: str
    kind: GateKind
    required: str
    actual: str
    passed: bool
    applicable: bool = True
    detail: str = ""
    words: GateWords | None = None

    @classmethod
    def worded(
        cls, words: GateWords, *, kind: GateKind, passed: bool, applicable: bool = True
    ) -> GateResult:
        """A row whose English strings are its `words` as written in English."""
        return cls(
            name=str(words.name), kind=kind, required=str(words.required),
            actual=str(words.actual), passed=passed, applicable=applicable,
            detail=str(words.detail), words=words,
        )


class Verdict(BaseModel):
    """The decision with the gate rows that led to it, and the run's counts.

    `decision` is None when the run cannot speak about the product (`withheld` says why:
    the environment, a test defect, or an interruption); the gate rows are then shown for
    information only.
    """

    decision: Decision | None
    withheld: Withheld | None = None
    gate_results: list[GateResult] = Field(default_factory=list)
    counts: dict[str, int] = Field(
        default_factory=dict, description="cases per outcome (passed, failed, broken, ...)"
    )
    executed: int = Field(0, description="passed + failed + broken (waived failures included)")
    waived: int = Field(0, description="failed cases covered by an unexpired waiver")
    reasons: list[str] = Field(
        default_factory=list, description="one line per failing gate row, most decisive first"
    )
    warnings: list[str] = Field(
        default_factory=list, description="things a reader must know even when accepted"
    )
    reason_words: list[Phrase] = Field(
        default_factory=list, description="`reasons` as messages for the reports to translate"
    )
    warning_words: list[Phrase] = Field(
        default_factory=list, description="`warnings` as messages for the reports to translate"
    )
    suspended: bool = Field(
        False, description="testing is suspended after this run (the ledger keeps this state)"
    )
    evaluated_on: date | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        """0 accepted, 1 rejected, 2 suspended; 3 test defect, 4 environment, 130 interrupted
        when no decision was reached (see docs/architecture.md, "Exit codes")."""
        if self.decision is None:
            kind = self.withheld.kind if self.withheld else WithheldKind.ENVIRONMENT
            return WITHHELD_EXIT_CODES[kind]
        return EXIT_CODES[self.decision]

    @property
    def headline(self) -> str:
        """`ACCEPTED`, or `NO VERDICT (environment problem)`, for people."""
        if self.decision is not None:
            return self.decision.value
        kind = self.withheld.kind if self.withheld else WithheldKind.ENVIRONMENT
        return f"NO VERDICT ({_WITHHELD_WORDS[kind]})"

    def failing(self) -> list[GateResult]:
        """The gate rows that did not pass."""
        return [row for row in self.gate_results if not row.passed]


_WITHHELD_WORDS = {
    WithheldKind.ENVIRONMENT: "environment problem",
    WithheldKind.TEST_DEFECT: "test defect",
    WithheldKind.INTERRUPTED: "interrupted",
}


class OpenDefect(Protocol):
    """What the gates need to know about one open defect (the ledger's `Defect` has it)."""

    @property
    def case_id(self) -> str: ...

    @property
    def severity(self) -> str: ...

    @property
    def priority(self) -> str: ...

    @property
    def waiver(self) -> Waiver | None: ...
