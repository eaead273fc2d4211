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
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Re-exported: the vocabulary lives in crmqa.plan.canonical.
from crmqa.core.languages import TranslatedLanguage
from crmqa.plan.canonical import ENTITIES as ENTITIES
from crmqa.plan.canonical import OPERATIONS as OPERATIONS
from crmqa.plan.case_sections import attach_sections, sections_of
from crmqa.plan.sections import with_sections
from crmqa.plan.step_kinds import STEP_KINDS as STEP_KINDS
from crmqa.plan.step_kinds import Step as Step

# The step models live in crmqa.plan.steps (so that new step kinds can build on them).
from crmqa.plan.steps import COMPARISONS as COMPARISONS
from crmqa.plan.steps import BodyCheck as BodyCheck
from crmqa.plan.steps import CanonicalOutcome as CanonicalOutcome
from crmqa.plan.steps import Expect as Expect
from crmqa.plan.steps import HttpRequest as HttpRequest
from crmqa.plan.steps import OperationName as OperationName
from crmqa.plan.steps import OpStep as OpStep
from crmqa.plan.steps import PathExpression as PathExpression
from crmqa.plan.steps import Questionnaire as Questionnaire
from crmqa.plan.steps import QuestionnaireStep as QuestionnaireStep
from crmqa.plan.steps import RequestStep as RequestStep
from crmqa.plan.steps import StepBase as StepBase
from crmqa.plan.steps import Strict as Strict
from crmqa.plan.steps import UiAction as UiAction
from crmqa.plan.steps import UiStep as UiStep
from crmqa.plan.steps import WaitStep as WaitStep
from crmqa.plan.steps import WaitUntil as WaitUntil

# --------------------------------------------------------------------------- vocabulary

class Category(StrEnum):
    """What kind of acceptance a case gives evidence for; each has its own pass-rate gate."""

    FUNCTIONAL = "functional"
    PERFORMANCE = "performance"
    UX = "ux"
    SECURITY = "security"
    MIGRATION = "migration"
    MANUAL = "manual"


# --------------------------------------------------------------------------- cases


class CaseTranslation(Strict):
    """A case's words in another language, shown by the reports written in that language."""

    title: str | None = Field(None, description="the case's title in this language")
    steps: dict[str, str] = Field(
        default_factory=dict,
        description="a step's name as written in the case -> its name in this language",
    )


class Case(Strict):
    """One test case: what it proves, how it is classified, and its steps."""

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="stable identifier (letters, digits, _ . -), unique in the plan; part of "
        "the Allure history id",
    )
    title: str = Field(description="one line saying what the case proves")
    category: Category = Field(
        Category.FUNCTIONAL,
        description="functional, performance, ux, security, migration or manual; decides "
        "which pass-rate gate counts the case",
    )
    module: str = Field(
        "general", description="the CRM area (leads, contacts, security...): the Allure feature"
    )
    severity: str = Field("normal", description="a name from the plan's severity scale")
    priority: str = Field("medium", description="a name from the plan's priority scale")
    tags: list[str] = Field(
        default_factory=list, description="free labels; includes can select cases by tag"
    )
    requirements: list[str] = Field(default_factory=list, description="requirement ids / links")
    description: str | None = Field(None, description="longer explanation, shown in reports")
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
    steps: list[Step] = Field(
        default_factory=list, description="the actions and their expectations, in order"
    )
    teardown: list[Step] = Field(
        default_factory=list, description="clean-up steps, run even when the case fails"
    )
    instructions: str | None = Field(None, description="what a person does (manual cases)")
    translations: dict[TranslatedLanguage, CaseTranslation] = Field(
        default_factory=dict,
        description="the title (and step names) in other report languages (zh, ru): "
        "`crmqa run --lang zh` shows them, English where a translation is missing",
    )

    def title_in(self, lang: str) -> str:
        """The title in `lang` where the case gives one, else as written."""
        translation = self.translations.get(lang)  # type: ignore[call-overload]
        return (translation.title if translation else None) or self.title

    def step_name_in(self, name: str, lang: str) -> str:
        """A step's name in `lang` where the case gives one, else as written."""
        translation = self.translations.get(lang)  # type: ignore[call-overload]
        return (translation.steps.get(name) if translation else None) or name

    @model_validator(mode="after")
    def _has_steps_or_is_manual(self) -> Case:
        if self.category is Category.MANUAL:
            if self.steps or sections_of(self):
                raise PydanticCustomError(
                    "manual_case_steps", "a manual case has instructions, not steps"
                )
        elif not self.steps and not sections_of(self):
            raise PydanticCustomError(
                "case_without_steps", "a case needs at least one step (or category: manual)"
            )
        return self


# --------------------------------------------------------------------------- targets


class Credential(Strict):
    """Where an identity's secrets come from: names of environment variables, never values."""

    username_env: str | None = Field(None, description="environment variable holding the user name")
    password_env: str | None = Field(None, description="environment variable holding the password")
    token_env: str | None = Field(
        None, description="environment variable holding a ready bearer token"
    )
    api_key_env: str | None = Field(None, description="environment variable holding an API key")
    client_id_env: str | None = Field(
        None, description="environment variable holding an OAuth client id"
    )
    client_secret_env: str | None = Field(
        None, description="environment variable holding an OAuth client secret"
    )
    default_username: str | None = Field(
        None, description="used when username_env is unset (never a password)"
    )


class Target(Strict):
    """One CRM instance to run against: its profile, address and identities."""

    profile: str = Field(description="a built-in profile name or a path to a profile YAML")
    base_url: str = Field(description="may use {{ env.NAME }}")
    identities: dict[str, Credential] = Field(
        default_factory=dict, description="role name -> credentials; 'default' acts unless `as`"
    )
    destructive_ok: bool = Field(
        False, description="cases may create, change and delete records on this target"
    )
    load_ok: bool = Field(False, description="performance cases may put load on this target")
    timeout_s: float = Field(
        10, gt=0, le=600, description="default time bound for one request, in seconds"
    )
    verify_tls: bool = Field(True, description="check the server's TLS certificate")


# --------------------------------------------------------------------------- requirements


class FieldRule(Strict):
    """The enterprise's rule for one canonical field; suites derive boundary cases from it."""

    required: bool = Field(False, description="the field must be given")
    format: Literal["email", "phone", "text", "date", "datetime", "number", "url"] | None = (
        Field(None, description="the kind of value the field holds (datetime: a timestamp, "
              "which must carry its time zone)")
    )
    max_length: int | None = Field(None, gt=0, description="longest accepted value, in characters")
    min_length: int | None = Field(None, ge=0, description="shortest accepted value, in characters")
    unique: bool = Field(False, description="no two records may share the value")
    choices: list[str] | None = Field(None, description="the only accepted values")
    minimum: float | None = Field(None, description="smallest accepted number (format: number)")
    maximum: float | None = Field(None, description="largest accepted number (format: number)")
    searchable: bool = Field(
        False, description="the entity's search finds a record by (part of) this field"
    )
    sortable: bool = Field(False, description="lists can be sorted by this field, both ways")
    filterable: bool = Field(False, description="lists can be filtered by this field's value")
    read_only: bool = Field(
        False, description="set by the CRM, never written by a client (generated cases read it)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> FieldRule:
        if (self.min_length is not None and self.max_length is not None
                and self.min_length > self.max_length):
            raise PydanticCustomError(
                "field_rule_lengths", "min_length ({low}) is greater than max_length ({high})",
                {"low": self.min_length, "high": self.max_length},
            )
        if (self.minimum is not None and self.maximum is not None
                and self.minimum > self.maximum):
            raise PydanticCustomError(
                "field_rule_bounds", "minimum ({low}) is greater than maximum ({high})",
                {"low": self.minimum, "high": self.maximum},
            )
        return self


# --------------------------------------------------------------------------- gates


class Level(Strict):
    """One level of a severity or priority scale."""

    name: str = Field(description="the level's name as cases and gates write it")
    allure: Literal["blocker", "critical", "normal", "minor", "trivial"] | None = Field(
        None, description="the Allure severity it is shown as"
    )


class Scales(Strict):
    """Severity and priority scales, most severe first."""

    severity: list[Level] = Field(
        description="severity levels, most severe first",
        default_factory=lambda: [
            Level(name=n, allure=n)  # type: ignore[arg-type]
            for n in ("blocker", "critical", "normal", "minor", "trivial")
        ],
    )
    priority: list[Level] = Field(
        description="priority levels, most urgent first",
        default_factory=lambda: [Level(name=n) for n in ("highest", "high", "medium", "low")],
    )


class PassRates(Strict):
    """Minimum pass rate in percent per category; `non_functional` is the default for the rest."""

    functional: float = Field(
        95, ge=0, le=100, description="minimum pass rate of functional cases, in percent"
    )
    non_functional: float = Field(
        90,
        ge=0,
        le=100,
        description="minimum pass rate of each non-functional category without its own value",
    )
    performance: float | None = Field(
        None,
        ge=0,
        le=100,
        description="minimum pass rate of performance cases (default: non_functional)",
    )
    ux: float | None = Field(
        None, ge=0, le=100, description="minimum pass rate of ux cases (default: non_functional)"
    )
    security: float | None = Field(
        None,
        ge=0,
        le=100,
        description="minimum pass rate of security cases (default: non_functional)",
    )
    migration: float | None = Field(
        None,
        ge=0,
        le=100,
        description="minimum pass rate of migration cases (default: non_functional)",
    )
    manual: float | None = Field(
        None,
        ge=0,
        le=100,
        description="minimum pass rate of manual cases (default: non_functional)",
    )


class Suspension(Strict):
    """When testing is suspended, and when it may resume."""

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
    """Acceptance criteria evaluated over the whole run."""

    pass_rate: PassRates = Field(
        default_factory=PassRates, description="minimum pass rates per category, in percent"
    )
    max_open_severity: str | None = Field(
        "normal", description="no open defect more severe than this level (None: no limit)"
    )
    must_pass: list[str] = Field(default_factory=list, description="case ids")
    suspension: Suspension = Field(
        default_factory=Suspension, description="when testing is suspended, and when it resumes"
    )
    min_executed: int = Field(
        1, ge=0, description="fewer executed cases than this is not a verdict"
    )
    nothing_left_behind: bool = Field(
        True,
        description="a run that could not delete a record it created is not accepted (the "
        "records are listed); false: list them, but let the other gates decide",
    )


# --------------------------------------------------------------------------- data


class Data(Strict):
    """Plan variables and settings for generated data."""

    vars: dict[str, Any] = Field(
        default_factory=dict, description="plan variables, used in templates as vars.<name>"
    )
    locale: str | list[str] = Field(
        "en_US", description="Faker locale(s) for generated data, e.g. en_US or [fr_FR, de_DE]"
    )
    seed: int | None = Field(
        None, description="seed for repeatable generated data (unique_email stays unique)"
    )
    files: dict[str, str] = Field(default_factory=dict, description="name -> path under fixtures/")


# --------------------------------------------------------------------------- documents


class SystemUnderTest(Strict):
    """The CRM product being accepted."""

    name: str = Field(description="the CRM product being accepted")
    version: str = Field("", description="its version or release")
    vendor: str | None = Field(None, description="who supplies it")


class SuiteInfo(Strict):
    """A suite's identity and the defaults for its cases."""

    id: str = Field(description="the suite's identifier")
    name: str = Field(description="the suite's name, shown in reports")
    module: str | None = Field(None, description="default module for its cases")
    category: Category | None = Field(None, description="default category for its cases")
    description: str | None = Field(None, description="what the suite covers")


class Suite(Strict):
    """A reusable file of cases, written against the canonical model."""

    schema_ref: str | None = Field(
        None, alias="$schema", description="JSON Schema for editors (ignored by crmqa)"
    )
    suite: SuiteInfo = Field(description="the suite's identity and the defaults for its cases")
    cases: list[Case] = Field(description="the suite's test cases")


class Include(Strict):
    """A suite file to include, optionally filtered by case ids or tags."""

    suite: str = Field(description="path relative to the plan file")
    cases: list[str] | None = Field(None, description="only these case ids")
    exclude: list[str] = Field(default_factory=list, description="leave out these case ids")
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
    """Where testers record the results of manual cases."""

    file: str = Field(
        description="YAML file a person fills in: case id -> result, tester, evidence"
    )


class PlanBase(Strict):
    """The acceptance plan for one engagement: the document an enterprise signs off."""

    schema_ref: str | None = Field(
        None, alias="$schema", description="JSON Schema for editors (ignored by crmqa)"
    )
    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="stable identifier of the plan; part of every case's Allure history id",
    )
    name: str = Field(description="the plan's title, shown in reports")
    system: SystemUnderTest = Field(description="the system under test")
    target: str = Field(description="name of the target in `targets` to run against by default")
    targets: dict[str, Target] = Field(description="target name -> how to reach that CRM instance")
    include: list[IncludeEntry] = Field(
        default_factory=list,
        description="suite files to run: a path, or {suite, cases, exclude, tags}",
    )
    cases: list[Case] = Field(
        default_factory=list,
        description="cases written in the plan itself, run after the included suites' cases",
    )
    data: Data = Field(default_factory=Data, description="variables and generated-data settings")
    requirements: dict[str, dict[str, FieldRule]] = Field(
        default_factory=dict, description="entity -> field -> rule"
    )
    generate: dict[str, Any] = Field(
        default_factory=dict,
        description="generated test design: generator name -> its section (false switches "
        "one off); see docs/test-design.md and `crmqa expand`",
    )
    scales: Scales = Field(default_factory=Scales, description="severity and priority scales")
    gates: Gates = Field(
        default_factory=Gates, description="acceptance criteria evaluated over the whole run"
    )
    waivers: list[WaiverSpec] = Field(
        default_factory=list, description="known defects kept out of the gates until they expire"
    )
    manual_results: ManualResults | None = Field(
        None, description="where testers record the results of manual cases"
    )

    @field_validator("target")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    def section(self, key: str) -> BaseModel | None:
        """A registered section (crmqa.plan.sections) as written, or None when absent."""
        value = getattr(self, key, None)
        return value if isinstance(value, BaseModel) else None


class WaiverSpec(Strict):
    """A known defect kept out of the gates until it expires."""

    case: str = Field(description="the waived case's id")
    owner: str = Field(description="who accepted the waiver")
    reason: str = Field(description="why the defect is waived")
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
    """What a tester recorded for one manual case."""

    result: Literal["passed", "failed", "blocked", "not_run"] = Field(
        description="what the tester found"
    )
    tester: str = Field(description="who ran the case")
    date: str | None = Field(None, description="when (YYYY-MM-DD)")
    evidence: str | None = Field(None, description="where the evidence is (file, link, ticket)")
    notes: str | None = Field(None, description="anything else worth knowing")


class ManualResultsFile(Strict):
    """The file testers fill in: manual case id -> result."""

    results: dict[str, ManualResult] = Field(description="manual case id -> result")


PlanBase.model_rebuild()

if TYPE_CHECKING:  # what type checkers see; at run time the registered sections are keys too
    Plan = PlanBase
else:
    Plan = with_sections(PlanBase, "Plan")

# Kinds of work a case holds instead of steps (`load:`, ...) add their key to cases through
# crmqa.plan.case_sections; the models that hold cases are rebuilt to see it.
attach_sections(Case, Suite, PlanBase, Plan)
