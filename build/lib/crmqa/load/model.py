"""The `load:` section of a case: virtual users running functional flows, a load shape, SLOs.

A load case is an ordinary case (id, title, severity, requirements, depends_on...) whose body
is `load:` instead of `steps:`. Its scenarios are made of weighted tasks; a task is a flow of
the same steps a functional case writes (`op: lead.search`, `request: ...`), run through the
target's profile, auth and identities by every virtual user. Locust does the work (see
crmqa.load.driver); these models are the language, registered as a case section through
crmqa.plan.case_sections, so that the loader validates them like every other key.

Every model forbids unknown keys: a misspelt threshold (`p59_ms`) is an error with a position,
never a gate that silently never fails (k6's long-standing complaint).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from crmqa.plan.case_sections import CaseSection, register_section
from crmqa.plan.models import OpStep, RequestStep, Strict

__all__ = [
    "ConstantShape",
    "LoadLimits",
    "LoadSpec",
    "LoadStep",
    "Recovery",
    "Scenario",
    "Slo",
    "Stage",
    "StagedShape",
    "StepRampShape",
    "Task",
    "ThinkTime",
    "load_steps",
    "request_name",
]


def _kind_of_load_step(value: Any) -> str | None:
    keys = value if isinstance(value, dict) else (
        type(value).model_fields if isinstance(value, OpStep | RequestStep) else {})
    present = [kind for kind in ("op", "request") if kind in keys]
    if len(present) != 1:
        return None
    return "OpStep" if present[0] == "op" else "RequestStep"


# A load step is an operation or a raw request, written exactly as in a functional case.
LoadStep = Annotated[
    Annotated[OpStep, Tag("OpStep")] | Annotated[RequestStep, Tag("RequestStep")],
    Discriminator(
        _kind_of_load_step,
        custom_error_type="step_kind",
        custom_error_message="a load step needs exactly one of op, request",
        custom_error_context={"kinds": "op, request"},
    ),
]


class ThinkTime(Strict):
    """A random pause between two tasks of one virtual user, drawn between min_s and max_s."""

    min_s: float = Field(ge=0, le=3600, description="shortest pause, in seconds")
    max_s: float = Field(ge=0, le=3600, description="longest pause, in seconds")

    @model_validator(mode="after")
    def _ordered(self) -> ThinkTime:
        if self.max_s < self.min_s:
            raise PydanticCustomError(
                "think_time_order", "max_s ({max_s}) is below min_s ({min_s})",
                {"max_s": self.max_s, "min_s": self.min_s})
        return self


class Task(Strict):
    """One flow a virtual user runs again and again, picked by weight among its scenario's."""

    name: str = Field(min_length=1, max_length=100, description="the task's name in reports")
    weight: int = Field(1, ge=1, le=10_000, description="how often it is picked, relative to "
                        "the scenario's other tasks")
    steps: list[LoadStep] = Field(
        min_length=1, description="the flow: operations or requests, with expect and save, "
        "as in a functional case; saved values live for one run of the task")


class Scenario(Strict):
    """A kind of virtual user: who it acts as, how long it thinks, which tasks it runs."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\s].*$",
                      description="the scenario's name: reports and `slo.scenario` use it")
    weight: int = Field(1, ge=1, le=10_000, description="its share of the virtual users, "
                        "relative to the other scenarios")
    as_: str | None = Field(None, alias="as", description="identity its users act as (default: "
                            "the target's default identity); a step's own `as` wins")
    think_time: float | ThinkTime = Field(
        1.0, description="pause between two tasks: seconds, or {min_s, max_s} for a random one")
    setup: list[LoadStep] = Field(
        default_factory=list, description="steps each virtual user runs once, before its first "
        "task; what they save stays available to every task of that user")
    tasks: list[Task] = Field(min_length=1, description="the flows its users run, by weight")

    @model_validator(mode="after")
    def _think_time_bounds(self) -> Scenario:
        if isinstance(self.think_time, float | int) and not 0 <= self.think_time <= 3600:
            raise PydanticCustomError(
                "think_time_range", "think_time must be between 0 and 3600 seconds")
        return self


class ConstantShape(Strict):
    """`users` virtual users, started at `spawn_rate` per second, for `duration_s`."""

    users: int = Field(ge=1, description="virtual users to run at once")
    duration_s: float = Field(gt=0, description="how long the load lasts, in seconds")
    spawn_rate: float | None = Field(
        None, gt=0, description="users started per second (default: all of them within a second)")


class Stage(Strict):
    """One stage of a staged ramp: move to `users` over `duration_s` (k6's stages)."""

    users: int = Field(ge=0, description="users at the end of the stage")
    duration_s: float = Field(gt=0, description="how long the stage lasts, in seconds")


class StagedShape(Strict):
    """Stages run one after the other; each ramps linearly to its user count."""

    stages: list[Stage] = Field(min_length=1, description="the stages, in order")


class StepRampShape(Strict):
    """A capacity search: add `step_users` every `step_s` until an SLO breaks or `max_users`.

    The capacity is the highest user count whose whole step kept every SLO.
    """

    start_users: int = Field(ge=1, description="users of the first step")
    step_users: int = Field(ge=1, description="users added at each step")
    step_s: float = Field(gt=0, description="how long each step lasts, in seconds")
    max_users: int = Field(ge=1, description="never go beyond this many users")
    spawn_rate: float | None = Field(
        None, gt=0, description="users started per second (default: a step's users in 1 s)")
    required_users: int | None = Field(
        None, ge=1, description="the capacity the CRM must reach; below it the case fails")

    @property
    def step_count(self) -> int:
        """How many steps the ramp has at most."""
        if self.max_users <= self.start_users:
            return 1
        # the last step may be smaller: it stops at max_users
        return -(-(self.max_users - self.start_users) // self.step_users) + 1

    def users_at(self, step: int) -> int:
        """The user count of step `step` (0-based)."""
        return min(self.start_users + step * self.step_users, self.max_users)


def _kind_of_shape(value: Any) -> str | None:
    if isinstance(value, ConstantShape | StagedShape | StepRampShape):
        return type(value).__name__
    if not isinstance(value, dict):
        return None
    if "stages" in value:
        return "StagedShape"
    if "step_users" in value or "start_users" in value:
        return "StepRampShape"
    if "users" in value or "duration_s" in value:
        return "ConstantShape"
    return None


Shape = Annotated[
    Annotated[ConstantShape, Tag("ConstantShape")]
    | Annotated[StagedShape, Tag("StagedShape")]
    | Annotated[StepRampShape, Tag("StepRampShape")],
    Discriminator(
        _kind_of_shape,
        custom_error_type="shape_kind",
        custom_error_message="a shape is {users, duration_s, spawn_rate}, {stages: [...]}, or "
        "a step ramp {start_users, step_users, step_s, max_users}",
    ),
]

LATENCY_KEYS: tuple[str, ...] = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "avg_ms", "max_ms")
THRESHOLD_KEYS: tuple[str, ...] = (*LATENCY_KEYS, "error_rate_pct", "min_rps", "users_held")


class Slo(Strict):
    """Service level objectives over some of the load's requests (k6's thresholds).

    `operation` and `scenario` choose the requests (both: their intersection; neither: all of
    them). Each threshold given is one check; all of them are reported.
    """

    operation: str | None = Field(
        None, description="a canonical operation of the load's steps (lead.search), or a raw "
        "request as METHOD path (GET /api/health)")
    scenario: str | None = Field(None, description="only the requests of this scenario's users")
    p50_ms: float | None = Field(None, gt=0, description="median response time at most this")
    p90_ms: float | None = Field(None, gt=0, description="90th percentile at most this, in ms")
    p95_ms: float | None = Field(None, gt=0, description="95th percentile at most this, in ms")
    p99_ms: float | None = Field(None, gt=0, description="99th percentile at most this, in ms")
    avg_ms: float | None = Field(None, gt=0, description="mean response time at most this")
    max_ms: float | None = Field(None, gt=0, description="slowest response at most this, in ms")
    error_rate_pct: float | None = Field(
        None, ge=0, le=100, description="failed requests at most this percentage")
    min_rps: float | None = Field(None, gt=0, description="throughput at least this many "
                                  "requests per second")
    users_held: int | None = Field(None, ge=1, description="at least this many virtual users ran "
                                   "at once (the whole run only)")
    abort_on_fail: bool = Field(False, description="stop the load as soon as a response-time or "
                                "error-rate threshold here is already lost")
    abort_after_s: float = Field(5.0, ge=0, le=3600, description="judge abort_on_fail only after "
                                 "this many seconds of load (k6's delayAbortEval)")

    @model_validator(mode="after")
    def _has_threshold(self) -> Slo:
        if not any(getattr(self, key) is not None for key in THRESHOLD_KEYS):
            raise PydanticCustomError(
                "slo_without_threshold", "an SLO needs at least one threshold: {keys}",
                {"keys": ", ".join(THRESHOLD_KEYS)})
        return self

    def thresholds(self) -> list[tuple[str, float]]:
        """(key, value) of every threshold given, in THRESHOLD_KEYS order."""
        return [(key, float(getattr(self, key))) for key in THRESHOLD_KEYS
                if getattr(self, key) is not None]

    def scope(self) -> str:
        """What the SLO covers, in words: `lead.search in searchers`, `all requests`."""
        if self.operation and self.scenario:
            return f"{self.operation} in {self.scenario}"
        return self.operation or (f"scenario {self.scenario}" if self.scenario else
                                  "all requests")


class LoadLimits(Strict):
    """Hard caps the load never exceeds, whatever its shape says (the plan's safety rail)."""

    max_users: int = Field(200, ge=1, le=100_000, description="never more virtual users")
    max_duration_s: float = Field(900, gt=0, le=86_400, description="never longer, in seconds "
                                  "(recovery included)")
    max_rps: float = Field(1000, gt=0, le=1_000_000, description="never more requests per second "
                           "(all generators together)")


class Recovery(Strict):
    """After the load (a stress phase), the CRM must come back.

    With `within_s`, `users` keep working after the load and the CRM must meet every latency
    and error-rate SLO again, over a window of `window_s`, within `within_s`. With
    `writes_kept` (the default), every record the load created and got a success for must
    still be readable.
    """

    within_s: float | None = Field(None, gt=0, le=3600, description="the SLOs must hold again "
                                   "within this many seconds after the load")
    window_s: float = Field(5, gt=0, le=600, description="how long the SLOs must hold to count "
                            "as recovered")
    users: int = Field(1, ge=1, description="virtual users that keep working while recovery is "
                       "watched")
    writes_kept: bool = Field(True, description="every record created with a success is read "
                              "back afterwards")


class LoadSpec(Strict):
    """Virtual users running the scenarios' tasks against the target, judged by SLOs."""

    scenarios: list[Scenario] = Field(min_length=1, description="kinds of virtual users")
    shape: Shape = Field(description="how many users, for how long: {users, duration_s, "
                         "spawn_rate}, {stages}, or a step ramp that searches for capacity")
    slo: list[Slo] = Field(default_factory=list, description="the thresholds the run is judged by")
    limits: LoadLimits = Field(default_factory=LoadLimits, description="hard caps on users, "
                               "duration and request rate")
    recovery: Recovery | None = Field(None, description="after the load: the CRM answers within "
                                      "its SLOs again in time, and lost no acknowledged write")
    client: Literal["fast", "requests"] = Field(
        "fast", description="Locust's FastHttpUser (geventhttpclient) or HttpUser (requests)")

    # ------------------------------------------------------------------ derived

    def peak_users(self) -> int:
        """The most users the shape asks for at once."""
        shape = self.shape
        if isinstance(shape, ConstantShape):
            return shape.users
        if isinstance(shape, StagedShape):
            return max(stage.users for stage in shape.stages)
        return shape.users_at(shape.step_count - 1)

    def planned_duration_s(self) -> float:
        """How long the shape lasts at most, recovery watch included."""
        shape = self.shape
        if isinstance(shape, ConstantShape):
            total = shape.duration_s
        elif isinstance(shape, StagedShape):
            total = sum(stage.duration_s for stage in shape.stages)
        else:
            total = shape.step_count * shape.step_s
        if self.recovery is not None and self.recovery.within_s is not None:
            total += self.recovery.within_s
        return total


def request_name(step: Any) -> str:
    """The name a load step's requests are counted under: the operation, or METHOD path."""
    if isinstance(step, OpStep):
        return step.op
    if isinstance(step, RequestStep):
        return f"{step.request.method} {step.request.path}"
    return type(step).__name__


def load_steps(spec: LoadSpec) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every step of the load with its path inside `load:`, as it acts.

    A step without its own `as` acts as its scenario's identity: it comes with that `as`
    filled in, so that the profile and the target are asked about the identity really used.
    """
    for s_index, scenario in enumerate(spec.scenarios):
        def acting(step: Any, identity: str | None = scenario.as_) -> Any:
            if identity is None or step.as_ is not None:
                return step
            return step.model_copy(update={"as_": identity})

        for index, step in enumerate(scenario.setup):
            yield ("scenarios", s_index, "setup", index), acting(step)
        for t_index, task in enumerate(scenario.tasks):
            for index, step in enumerate(task.steps):
                yield ("scenarios", s_index, "tasks", t_index, "steps", index), acting(step)


def _effects(spec: LoadSpec) -> Iterator[str]:
    # imported here: crmqa.plan.effects imports the models this module extends
    from crmqa.plan.effects import CHANGES, LOAD, step_changes_records

    yield LOAD
    if any(step_changes_records(step) for _, step in load_steps(spec)):
        yield CHANGES


def seconds(value: float) -> str:
    """`30 s`, `1.5 s`, `2 min` for messages."""
    if value >= 120 and math.isclose(value % 60, 0):
        return f"{value / 60:g} min"
    return f"{value:g} s"


register_section(CaseSection(
    key="load",
    model=LoadSpec,
    description="a load test instead of steps: virtual users run the scenarios' tasks "
    "(canonical operations through the profile) through Locust, judged by SLOs (see docs/load.md)",
    steps=load_steps,
    effects=_effects,
))
