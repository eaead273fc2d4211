"""Typed results of a run. Drivers and checks produce them, gates and reports read them.

They are plain pydantic models so that every worker can write them as JSON lines and the
controller (or a later `crmqa gates RUN`) can read them back: gates are computed from these
records, never from console text.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from crmqa.core.messages import N_


class Outcome(StrEnum):
    """How one case (or step) ended.

    passed / failed (a product defect) / broken (crmqa, the plan or the environment broke) /
    blocked (a prerequisite failed; not counted twice) / skipped (deselected or manual result
    missing) / not_applicable (the target lacks a capability the case needs).
    """

    PASSED = "passed"
    FAILED = "failed"
    BROKEN = "broken"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "not_applicable"


class BrokenKind(StrEnum):
    """Why a case is broken: Allure categories and the summary separate these."""

    TEST_DEFECT = "test_defect"  # the plan or suite is wrong at run time (bad template value...)
    ENVIRONMENT = "environment"  # target down, timeout, garbage answer
    CRMQA = "crmqa"  # a bug in crmqa itself


class CheckResult(BaseModel):
    """One expectation evaluated against what the CRM did. Soft: all are reported."""

    name: str  # e.g. "status", "body record.email", "field_errors", "response time"
    ok: bool
    expected: Any = None
    actual: Any = None
    message: str = ""


class Attachment(BaseModel):
    """Evidence kept for a step: a request/response dump, a screenshot, a trace, a file."""

    name: str
    mime_type: str = "text/plain"
    path: str | None = None  # a file under the run folder
    text: str | None = None  # or inline text (already redacted)
    # A figure a manager reads (a load's charts): summary.html shows it, not only Allure.
    show_in_summary: bool = False


# The names of the steps crmqa adds to a case itself: reports show them in the run's language
# (a suite's own step names are translated by the suite, `Case.translations`).
CLEANUP_STEP_NAME = N_("clean up created records")
MANUAL_STEP_NAME = N_("manual check")
CRMQA_STEP_NAMES = frozenset({CLEANUP_STEP_NAME, MANUAL_STEP_NAME})


class StepResult(BaseModel):
    """One step of a case as it ran.

    `number` is the step's 1-based position among all the case's steps in run order (setup,
    then steps, then teardown): the same number failure messages and Allure step titles show.
    """

    number: int
    phase: str = "step"  # "setup", "step", "teardown", "cleanup", "manual"
    name: str
    kind: str  # "op", "request", "ui", "wait_until", "manual", "cleanup"
    action: str = ""  # what the step did: "lead.create", "GET /api/health", "ui click x"
    outcome: Outcome
    status: int | None = None  # the HTTP status of the step's last answer, if any
    answer: str | None = None  # the canonical outcome of an operation (ok, rejected, ...)
    checks: list[CheckResult] = Field(default_factory=list)
    duration_ms: float = 0.0
    message: str = ""
    broken_kind: BrokenKind | None = None
    attachments: list[Attachment] = Field(default_factory=list)


class Waiver(BaseModel):
    """A known defect accepted for a while: shown in reports, kept out of the gates until expiry."""

    case: str
    owner: str
    reason: str
    expires: str  # ISO date


class LeftOutBy(StrEnum):
    """What of the run's set-up kept a case from being judged."""

    TARGET = "target"
    SELECTION = "selection"


class Leftover(BaseModel):
    """A record a case created that crmqa could not delete: it is still in the CRM."""

    entity: str
    record_id: Any = None  # None: its id was never seen (see `values`)
    identity: str = ""  # who created it
    reason: str
    values: dict[str, str] = Field(default_factory=dict)  # what was entered, to find it by hand


class CaseResult(BaseModel):
    plan_id: str
    case_id: str
    title: str
    # the title in other languages, where the case's suite translated it (lang -> title)
    titles: dict[str, str] = Field(default_factory=dict)
    category: str
    module: str
    severity: str
    priority: str
    tags: list[str] = Field(default_factory=list)
    requirements: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    history_id: str = ""
    outcome: Outcome
    message: str = ""  # first failure, or the reason for blocked / not applicable / broken
    broken_kind: BrokenKind | None = None
    steps: list[StepResult] = Field(default_factory=list)
    duration_ms: float = 0.0
    started_at: datetime | None = None
    worker: str = "main"
    waiver: Waiver | None = None  # the plan's waiver for a failed case (crmqa.plan.waivers)
    leftovers: list[Leftover] = Field(default_factory=list)  # created, could not be deleted
    # Not judged because of the run's set-up, not the product: "target" (the target's flags or
    # identities made it not applicable) or "selection" (blocked by a dependency that was not
    # selected to run). The gates never let such a case decide a verdict.
    left_out_by: LeftOutBy | None = None


class RunInfo(BaseModel):
    """What a run was: written next to the case results as run.json."""

    run_id: str
    plan_id: str
    plan_name: str
    plan_file: str
    system: str = ""
    system_version: str = ""
    target: str = ""
    base_url: str = ""
    profile: str = ""
    started_at: datetime
    finished_at: datetime | None = None
    crmqa_version: str = ""
    plan_digest: str = ""  # LoadedPlan.digest(): the plan and suite files the run used
    selection: str = ""  # -k expression or similar, for the record
    lang: str = "en"  # the reports' language (crmqa.core.languages), kept for re-gating
