"""The plan language: the one source of truth for plans, suites, cases, steps and gates.

Every model forbids unknown keys, so a misspelt key or gate is an error with a position, not a
silently ignored setting. The JSON Schema editors use is exported from these models
(`crmqa schema`); there is no second validator.

Templated strings (`{{ fake.email }}`, `{{ saved.lead_id }}`, `{{ vars.company }}`,
`{{ env.CRM_PASSWORD }}`) stay strings here; the loader checks their syntax and the engine
renders them at run time.
"""

from __future__ import annotations

import datetime as _dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- vocabulary

ENTITIES = ("lead", "contact", "account", "opportunity", "case", "user", "role")
OPERATIONS = (
    "create",
    "get",
    "update",
    "delete",
    "list",
    "search",
    "import",
    "export",
    "convert",
)


class Category(StrEnum):
    FUNCTIONAL = "functional"
    PERFORMANCE = "performance"
    UX = "ux"
    SECURITY = "security"
    MIGRATION = "migration"
    MANUAL = "manual"


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

Comparable = str | int | float | bool | None | list[Any] | dict[str, Any]


class BodyCheck(Strict):
    """One expectation on a value inside a response.

    `path` is JMESPath (`record.email`, `records[*].email`), or JSONPath when it starts with
    `$`. Exactly one comparison must be given.
    """

    path: str
    equals: Comparable = None
    not_equals: Comparable = None
    contains: Comparable = None  # substring, list member, or dict subset
    not_contains: Comparable = None
    matches: str | None = None  # regular expression, searched
    exists: bool | None = None
    length: int | None = None
    gte: float | None = None
    lte: float | None = None
    type: Literal["string", "number", "integer", "boolean", "array", "object", "null"] | None = None
    ignore_case: bool = False

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
    body: list[BodyCheck] = Field(default_factory=list)
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
    max_ms: float | None = Field(None, description="response time bound in milliseconds")


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
    name: str | None = None
    expect: Expect = Field(default_factory=Expect)
    save: dict[str, str] = Field(
        default_factory=dict,
        description="variable -> path (JMESPath, or JSONPath from $) into the result",
    )
    as_: str | None = Field(
        None, alias="as", description="which of the target's identities acts (e.g. sales)"
    )
    continue_on_failure: bool = False
    timeout_s: float | None = Field(None, gt=0, le=600)


class OpStep(StepBase):
    """A canonical CRM operation, mapped onto the target by its profile.

    `with` holds the operation's arguments:
      create: {data: {...}}            get/delete/convert: {id: ...}
      update: {id: ..., data: {...}}   list: {page, page_size, sort}
      search: {query, filters: {...}, sort, page, page_size}
      import: {file: path} or {rows: [...]}           export: {query, filters}
    """

    op: OperationName
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class HttpRequest(Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    path: str = Field(description="path relative to the target's base URL, or a full URL")
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    json_: Any = Field(None, alias="json")
    data: dict[str, Any] | str | None = None
    files: dict[str, str] = Field(default_factory=dict, description="field -> file path")
    auth: bool = Field(True, description="send the target's credentials")


class RequestStep(StepBase):
    """A raw HTTP request to the target."""

    request: HttpRequest


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
]


class UiStep(StepBase):
    """A browser action, on elements named by the target profile's screen maps.

    `ui` is the action; `target` names a screen (`lead_list`) or an element
    (`lead_form.first_name`), or a raw locator (`role=button[name="Save"]`, `label=Email`,
    `text=Saved`, `testid=x`, `css=...`). `value` is what to fill/select/press/expect.
    The UI driver owns the meaning of each action (see crmqa/drivers/ui).
    """

    ui: UiAction
    target: str | None = None
    value: Any = None
    values: dict[str, Any] = Field(
        default_factory=dict, description="element -> value, for filling a form in one step"
    )


STEP_KINDS = ("op", "request", "ui", "wait_until")
"""The keys that say what a step does; a step has exactly one of them."""


def _kind_of_step(value: Any, kinds: tuple[str, ...]) -> str | None:
    """The tag of a step's kind, or None when it has none or several of `kinds`."""
    if isinstance(value, BaseModel):
        present = [kind for kind in kinds if kind in type(value).model_fields]
    elif isinstance(value, dict):
        present = [kind for kind in kinds if kind in value]
    else:
        return None
    return _STEP_TAGS[present[0]] if len(present) == 1 else None


_STEP_TAGS = {"op": "OpStep", "request": "RequestStep", "ui": "UiStep", "wait_until": "WaitStep"}

# `wait_until.step` repeats an operation or a request.
PollStep = Annotated[
    Annotated[OpStep, Tag("OpStep")] | Annotated[RequestStep, Tag("RequestStep")],
    Discriminator(
        lambda value: _kind_of_step(value, ("op", "request")),
        custom_error_type="step_kind",
        custom_error_message="a repeated step needs exactly one of op, request",
        custom_error_context={"kinds": "op, request"},
    ),
]


class WaitUntil(Strict):
    """Repeat a step until a condition holds, fails, or time runs out (async CRM work)."""

    step: PollStep
    success: Expect
    failure: Expect | None = None
    timeout_s: float = Field(30, gt=0, le=3600)
    interval_s: float = Field(1, gt=0, le=600)


class WaitStep(Strict):
    name: str | None = None
    wait_until: WaitUntil
    save: dict[str, str] = Field(default_factory=dict)


# A step is exactly one of these; the discriminator picks the kind from the key present, so
# a bad step gets one clear error instead of one error per possible kind.
Step = Annotated[
    Annotated[OpStep, Tag("OpStep")]
    | Annotated[RequestStep, Tag("RequestStep")]
    | Annotated[UiStep, Tag("UiStep")]
    | Annotated[WaitStep, Tag("WaitStep")],
    Discriminator(
        lambda value: _kind_of_step(value, STEP_KINDS),
        custom_error_type="step_kind",
        custom_error_message="a step needs exactly one of op, request, ui, wait_until",
        custom_error_context={"kinds": "op, request, ui, wait_until"},
    ),
]


# --------------------------------------------------------------------------- cases


class Case(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    title: str
    category: Category = Category.FUNCTIONAL
    module: str = "general"
    severity: str = Field("normal", description="a name from the plan's severity scale")
    priority: str = Field("medium", description="a name from the plan's priority scale")
    tags: list[str] = Field(default_factory=list)
    requirements: list[str] = Field(default_factory=list, description="requirement ids / links")
    description: str | None = None
    needs: list[str] = Field(
        default_factory=list,
        description="capabilities beyond those of its steps (e.g. screen:lead_import)",
    )
    depends_on: list[str] = Field(
        default_factory=list, description="case ids that must pass first, else this is blocked"
    )
    parameters: list[dict[str, Any]] = Field(
        default_factory=list,
        description="run the case once per entry; each entry's keys are template variables",
    )
    setup: list[Step] = Field(default_factory=list, description="failure here blocks the case")
    steps: list[Step] = Field(default_factory=list)
    teardown: list[Step] = Field(default_factory=list)
    instructions: str | None = Field(None, description="what a person does (manual cases)")

    @model_validator(mode="after")
    def _has_steps_or_is_manual(self) -> Case:
        if self.category is Category.MANUAL:
            if self.steps:
                raise PydanticCustomError(
                    "manual_case_steps", "a manual case has instructions, not steps"
                )
        elif not self.steps:
            raise PydanticCustomError(
                "case_without_steps", "a case needs at least one step (or category: manual)"
            )
        return self


# --------------------------------------------------------------------------- targets


class Credential(Strict):
    """Where an identity's secrets come from: names of environment variables, never values."""

    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    api_key_env: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    default_username: str | None = Field(
        None, description="used when username_env is unset (never a password)"
    )


class Target(Strict):
    profile: str = Field(description="a built-in profile name or a path to a profile YAML")
    base_url: str = Field(description="may use {{ env.NAME }}")
    identities: dict[str, Credential] = Field(
        default_factory=dict, description="role name -> credentials; 'default' acts unless `as`"
    )
    destructive_ok: bool = False
    load_ok: bool = False
    timeout_s: float = Field(10, gt=0, le=600)
    verify_tls: bool = True


# --------------------------------------------------------------------------- requirements


class FieldRule(Strict):
    """The enterprise's rule for one canonical field; suites derive boundary cases from it."""

    required: bool = False
    format: Literal["email", "phone", "text", "date", "number", "url"] | None = None
    max_length: int | None = Field(None, gt=0)
    min_length: int | None = Field(None, ge=0)
    unique: bool = False
    choices: list[str] | None = None


# --------------------------------------------------------------------------- gates


class Level(Strict):
    name: str
    allure: Literal["blocker", "critical", "normal", "minor", "trivial"] | None = None


class Scales(Strict):
    """Severity and priority scales, most severe first."""

    severity: list[Level] = Field(
        default_factory=lambda: [
            Level(name=n, allure=n)  # type: ignore[arg-type]
            for n in ("blocker", "critical", "normal", "minor", "trivial")
        ]
    )
    priority: list[Level] = Field(
        default_factory=lambda: [Level(name=n) for n in ("highest", "high", "medium", "low")]
    )


class PassRates(Strict):
    """Minimum pass rate in percent per category; `non_functional` is the default for the rest."""

    functional: float = Field(95, ge=0, le=100)
    non_functional: float = Field(90, ge=0, le=100)
    performance: float | None = Field(None, ge=0, le=100)
    ux: float | None = Field(None, ge=0, le=100)
    security: float | None = Field(None, ge=0, le=100)
    migration: float | None = Field(None, ge=0, le=100)
    manual: float | None = Field(None, ge=0, le=100)


class Suspension(Strict):
    max_open_defects: int = Field(100, ge=0, description="suspend above this many open defects")
    resume_at: int = Field(10, ge=0, description="resume once open defects are down to this")
    max_share_top_severity: float = Field(
        0.5, ge=0, le=1, description="suspend when the most severe level holds more than this share"
    )
    max_share_top_priority: float = Field(
        1 / 3,
        ge=0,
        le=1,
        description="suspend when the highest priority holds more than this share",
    )
    min_defects_for_shares: int = Field(
        4, ge=1, description="share rules apply only from this many open defects"
    )


class Gates(Strict):
    pass_rate: PassRates = Field(default_factory=PassRates)
    max_open_severity: str | None = Field(
        "normal", description="no open defect more severe than this level (None: no limit)"
    )
    must_pass: list[str] = Field(default_factory=list, description="case ids")
    suspension: Suspension = Field(default_factory=Suspension)
    min_executed: int = Field(
        1, ge=0, description="fewer executed cases than this is not a verdict"
    )


# --------------------------------------------------------------------------- data


class Data(Strict):
    vars: dict[str, Any] = Field(default_factory=dict)
    locale: str | list[str] = "en_US"
    seed: int | None = None
    files: dict[str, str] = Field(default_factory=dict, description="name -> path under fixtures/")


# --------------------------------------------------------------------------- documents


class SystemUnderTest(Strict):
    name: str
    version: str = ""
    vendor: str | None = None


class SuiteInfo(Strict):
    id: str
    name: str
    module: str | None = Field(None, description="default module for its cases")
    category: Category | None = Field(None, description="default category for its cases")
    description: str | None = None


class Suite(Strict):
    """A reusable file of cases, written against the canonical model."""

    schema_ref: str | None = Field(None, alias="$schema")
    suite: SuiteInfo
    cases: list[Case]


class Include(Strict):
    suite: str = Field(description="path relative to the plan file")
    cases: list[str] | None = Field(None, description="only these case ids")
    exclude: list[str] = Field(default_factory=list)
    tags: list[str] | None = Field(None, description="only cases with one of these tags")


def _kind_of_include(value: Any) -> str | None:
    if isinstance(value, str):
        return "path"
    if isinstance(value, dict | Include):
        return "Include"
    return None


# An include is a path or a filtered include; the discriminator keeps errors to one per entry.
IncludeEntry = Annotated[
    Annotated[str, Tag("path")] | Annotated[Include, Tag("Include")],
    Discriminator(
        _kind_of_include,
        custom_error_type="include_kind",
        custom_error_message="an include is a suite file path or a mapping with `suite`",
    ),
]


class ManualResults(Strict):
    file: str = Field(
        description="YAML file a person fills in: case id -> result, tester, evidence"
    )


class Plan(Strict):
    """The acceptance plan for one engagement: the document an enterprise signs off."""

    schema_ref: str | None = Field(None, alias="$schema")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    name: str
    system: SystemUnderTest
    target: str = Field(description="name of the target in `targets` to run against by default")
    targets: dict[str, Target]
    include: list[IncludeEntry] = Field(
        default_factory=list,
        description="suite files to run: a path, or {suite, cases, exclude, tags}",
    )
    cases: list[Case] = Field(default_factory=list)
    data: Data = Field(default_factory=Data)
    requirements: dict[str, dict[str, FieldRule]] = Field(
        default_factory=dict, description="entity -> field -> rule"
    )
    scales: Scales = Field(default_factory=Scales)
    gates: Gates = Field(default_factory=Gates)
    waivers: list[WaiverSpec] = Field(default_factory=list)
    manual_results: ManualResults | None = None

    @field_validator("target")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class WaiverSpec(Strict):
    case: str
    owner: str
    reason: str
    expires: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="ISO date YYYY-MM-DD")

    @field_validator("expires")
    @classmethod
    def _real_date(cls, value: str) -> str:
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "date_not_real", "'{value}' is not a real calendar date", {"value": value}
            ) from None
        return value


class ManualResult(Strict):
    result: Literal["passed", "failed", "blocked", "not_run"]
    tester: str
    date: str | None = None
    evidence: str | None = None
    notes: str | None = None


class ManualResultsFile(Strict):
    results: dict[str, ManualResult]


Plan.model_rebuild()
