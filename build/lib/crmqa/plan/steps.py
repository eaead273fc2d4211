"""Steps: what one step of a case does and what it expects, as the plan language writes it.

The built-in step kinds (`op`, `request`, `ui`, `wait_until`) live here beside the shared
pieces every kind uses (`StepBase`, `Expect`): a new kind of step (from crmqa's own packages or a
third party's) builds on this module and registers itself in crmqa.plan.step_kinds, and the
plan models take it into the `Step` union. This module must not import crmqa.plan.models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crmqa.plan.paths import path_error
from crmqa.plan.templating import has_template


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)



class CanonicalOutcome(StrEnum):
    """What a canonical operation did, independent of the product's HTTP codes.

    The profile maps each product's status codes and error shapes onto these, so one suite
    can expect `rejected` on a CRM that answers 422 and on one that answers 400.
    """

    OK = "ok"  # any success, created included
    REJECTED = "rejected"  # validation failed (field errors)
    CONFLICT = "conflict"  # duplicate / conflicting state
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    ERROR = "error"  # any other failure answer from the CRM


# --------------------------------------------------------------------------- expectations


def _parsed_path(value: str) -> str:
    """A path must parse (templated paths are checked once rendered, at run time)."""
    if not has_template(value):
        problem = path_error(value)
        if problem:
            raise ValueError(problem)
    return value


PathExpression = Annotated[str, AfterValidator(_parsed_path)]

Comparable = str | int | float | bool | None | list[Any] | dict[str, Any]


class BodyCheck(Strict):
    """One expectation on a value inside a response.

    `path` is JMESPath (`record.email`, `records[*].email`), or JSONPath when it starts with
    `$`. Exactly one comparison must be given.
    """

    path: PathExpression = Field(
        description="where the value is: JMESPath (record.email, items[*].status), or JSONPath "
        "when it starts with $"
    )
    equals: Comparable = Field(
        None, description="the value equals this (strings compare exactly unless ignore_case)"
    )
    not_equals: Comparable = Field(None, description="the value differs from this")
    contains: Comparable = Field(
        None, description="substring of a string, member of a list, or subset of a mapping"
    )
    not_contains: Comparable = Field(None, description="the opposite of contains")
    matches: str | None = Field(None, description="regular expression searched in the value (text)")
    exists: bool | None = Field(
        None, description="true: the path yields a value; false: it yields nothing"
    )
    length: int | None = Field(
        None, description="the value (text, list or mapping) has exactly this length"
    )
    gte: float | None = Field(None, description="the value is a number at least this")
    lte: float | None = Field(None, description="the value is a number at most this")
    type: Literal["string", "number", "integer", "boolean", "array", "object", "null"] | None = (
        Field(None, description="the JSON type of the value")
    )
    ignore_case: bool = Field(
        False, description="compare text case-insensitively (equals, not_equals, contains, matches)"
    )

    @model_validator(mode="after")
    def _one_comparison(self) -> BodyCheck:
        given = [k for k in COMPARISONS if k in self.model_fields_set]
        if len(given) != 1:
            # A custom error type lets the loader point at the right key and word the message.
            raise PydanticCustomError(
                "body_check_comparisons",
                "a body check needs exactly one comparison of {choices}; got {got}",
                {
                    "choices": ", ".join(COMPARISONS),
                    "got": ", ".join(given) if given else "none",
                    "given": given,
                },
            )
        return self


COMPARISONS = (
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "matches",
    "exists",
    "length",
    "gte",
    "lte",
    "type",
)


class Expect(Strict):
    """Expectations on a step's result. All of them are evaluated (soft checks)."""

    outcome: CanonicalOutcome | list[CanonicalOutcome] | None = Field(
        None,
        description="canonical result of an operation (ok, rejected, not_found, ...), "
        "or a list of acceptable ones",
    )
    status: int | list[int] | None = Field(None, description="HTTP status (raw requests)")
    body: list[BodyCheck] = Field(
        default_factory=list,
        description="checks on values inside the response body; each is reported on its own",
    )
    record: dict[str, Any] | None = Field(
        None, description="canonical fields the returned record must have (subset match)"
    )
    field_errors: list[str] | None = Field(
        None, description="canonical fields that must be reported as invalid"
    )
    count: int | None = Field(None, description="number of records returned (list/search)")
    total: int | None = Field(None, description="total count reported (list/search)")
    schema_: dict[str, Any] | str | None = Field(
        None, alias="schema", description="JSON Schema (inline, or a file path) for the body"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="header name -> regular expression"
    )
    max_ms: float | None = Field(
        None, description="response time bound in milliseconds (a read that misses it is "
        "timed twice more and judged by the median)")


# --------------------------------------------------------------------------- steps

OperationName = Annotated[
    str,
    Field(
        pattern=r"^(lead|contact|account|opportunity|case|user|role)\."
        r"(create|get|update|delete|list|search|import|export|convert)$",
        description="canonical operation: <entity>.<operation>, e.g. lead.create",
    ),
]


class StepBase(Strict):
    name: str | None = Field(
        None,
        description="what the step does, shown in reports (defaults to the operation or action)",
    )
    expect: Expect = Field(
        default_factory=Expect, description="what the result must look like (all checks run)"
    )
    save: dict[str, PathExpression] = Field(
        default_factory=dict,
        description="variable -> path (JMESPath, or JSONPath from $) into the result",
    )
    as_: str | None = Field(
        None, alias="as", description="which of the target's identities acts (e.g. sales)"
    )
    continue_on_failure: bool = Field(
        False, description="run the following steps even when this one's expectations fail"
    )
    timeout_s: float | None = Field(
        None,
        gt=0,
        le=600,
        description="time bound for this step in seconds (overrides the target's)",
    )


class OpStep(StepBase):
    """A canonical CRM operation, mapped onto the target by its profile.

    `with` holds the operation's arguments:
      create: {data: {...}}            get/delete/convert: {id: ...}
      update: {id: ..., data: {...}}   list: {page, page_size, sort}
      search: {query, filters: {...}, sort, page, page_size}
      import: {file: path} or {rows: [...]}           export: {query, filters}
    """

    op: OperationName
    with_: dict[str, Any] = Field(
        default_factory=dict, alias="with", description="the operation's arguments (see above)"
    )


class HttpRequest(Strict):
    """A raw HTTP request to the target."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = Field(
        "GET", description="HTTP method"
    )
    path: str = Field(description="path relative to the target's base URL, or a full URL")
    params: dict[str, Any] = Field(default_factory=dict, description="query string parameters")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    json_: Any = Field(None, alias="json", description="JSON body")
    data: dict[str, Any] | str | None = Field(
        None, description="form fields (a mapping) or a raw text body"
    )
    files: dict[str, str] = Field(default_factory=dict, description="field -> file path")
    auth: bool = Field(True, description="send the target's credentials")


class RequestStep(StepBase):
    """A raw HTTP request to the target."""

    request: HttpRequest = Field(description="the HTTP request to send")


UiAction = Literal[
    "open",
    "fill",
    "select",
    "check",
    "uncheck",
    "click",
    "press",
    "upload",
    "download",
    "expect_text",
    "expect_visible",
    "expect_hidden",
    "expect_count",
    "expect_url",
    "expect_value",
    "wait_for",
    "screenshot",
    "accessibility",
    "expect_csrf_protected",
    # UX: a task measured from task_start to task_end (docs/ux.md)
    "task_start",
    "task_end",
    "expect_feedback",
    "expect_field_error",
]


class UiStep(StepBase):
    """A browser action, on elements named by the target profile's screen maps.

    `ui` is the action; `target` names a screen (`lead_list`) or an element
    (`lead_form.first_name`), or a raw locator (`role=button[name="Save"]`, `label=Email`,
    `text=Saved`, `testid=x`, `css=...`). `value` is what to fill/select/press/expect.
    The UI driver owns the meaning of each action (see crmqa/drivers/ui).
    """

    ui: UiAction = Field(description="the browser action")
    target: str | None = Field(
        None,
        description="a screen (lead_list), an element (lead_form.email) or a raw locator "
        "(label=Email)",
    )
    value: Any = Field(None, description="what to fill, select, press, or expect")
    values: dict[str, Any] = Field(
        default_factory=dict, description="element -> value, for filling a form in one step"
    )


class Questionnaire(Strict):
    """A usability questionnaire people filled in, scored from its results file."""

    scale: Literal["sus"] = Field(
        "sus", description="the questionnaire: sus (System Usability Scale, 10 items, 1-5)")
    file: str = Field(description="the results file: CSV, a header row, one respondent a line "
                      "(docs/ux.md)")
    at_least: float = Field(68, ge=0, le=100,
                            description="the mean score the product must reach (0-100)")
    min_respondents: int = Field(
        5, ge=1, description="fewer answers than this cannot speak for the users")


class QuestionnaireStep(StepBase):
    """A questionnaire's results, scored against a threshold (docs/ux.md)."""

    questionnaire: Questionnaire = Field(description="which questionnaire, where its answers "
                                         "are, and the score to reach")

    def describe(self) -> str:
        return f"questionnaire {self.questionnaire.scale} {self.questionnaire.file}"


def kind_of_step(value: Any, tags: dict[str, str]) -> str | None:
    """The union tag of a step's kind: `tags` maps each kind's key (`op`) to its tag; None when
    the step has none or several of the keys."""
    if isinstance(value, BaseModel):
        present = [key for key in tags if key in type(value).model_fields]
    elif isinstance(value, dict):
        present = [key for key in tags if key in value]
    else:
        return None
    return tags[present[0]] if len(present) == 1 else None


_POLL_TAGS = {"op": "OpStep", "request": "RequestStep", "ui": "UiStep"}

# `wait_until.step` repeats an operation, a request, or a UI step (a screen opened again until
# it shows what asynchronous work made: `ui: open` gives the page's `text` and `status`).
PollStep = Annotated[
    Annotated[OpStep, Tag("OpStep")] | Annotated[RequestStep, Tag("RequestStep")]
    | Annotated[UiStep, Tag("UiStep")],
    Discriminator(
        lambda value: kind_of_step(value, _POLL_TAGS),
        custom_error_type="step_kind",
        custom_error_message="a repeated step needs exactly one of op, request, ui",
        custom_error_context={"kinds": "op, request, ui"},
    ),
]


class WaitUntil(Strict):
    """Repeat a step until a condition holds, fails, or time runs out (async CRM work)."""

    step: PollStep = Field(description="the operation, request or UI step to repeat")
    success: Expect = Field(description="stop waiting when these expectations all hold")
    failure: Expect | None = Field(
        None, description="stop and fail when these all hold (e.g. an import reported an error)"
    )
    timeout_s: float = Field(30, gt=0, le=3600, description="give up after this many seconds")
    interval_s: float = Field(1, gt=0, le=600, description="seconds between attempts")


class WaitStep(Strict):
    """A step repeated until a condition holds (asynchronous CRM work)."""

    name: str | None = Field(None, description="what is awaited, shown in reports")
    wait_until: WaitUntil = Field(
        description="the step to repeat and the conditions that end the wait"
    )
    save: dict[str, PathExpression] = Field(
        default_factory=dict, description="variable -> path into the last result"
    )
