"""The contract between the engine and the drivers.

The engine renders nothing for a driver: it hands over the step, already rendered (templates
resolved), and a context. The driver performs the action and returns a `StepOutput`; the
checks library evaluates the step's `expect` against it. A driver that evaluates its own
expectations (the UI driver's `expect_text`) returns them in `StepOutput.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crmqa.core.results import Attachment, CheckResult


@dataclass
class StepOutput:
    """What a step did, in a shape the checks library can read.

    `data` is what `expect.body[*].path` and `save` paths look into:
      - canonical operations: {"outcome", "status", "record", "records", "total",
        "field_errors", "content", "rows", "raw"}
      - raw requests: the decoded JSON body (or {"text": ...} when not JSON)
    """

    data: Any = None
    outcome: str | None = None  # canonical outcome (ok, rejected, not_found, ...)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    summary: str = ""  # "POST /api/leads -> 201", shown in failure messages


@dataclass(frozen=True)
class StepProblem:
    """A mistake in a step, found before anything runs: what, where inside the step, a hint.

    `where` is the path inside the step (`("target",)`, `("values", "first_name")`), so that
    validation can report it at the step's file:line:col.
    """

    message: str
    where: tuple[str | int, ...] = ()
    suggestion: str | None = None


@dataclass(frozen=True)
class StepCheckContext:
    """What a driver's step check may look at: the target's profile, the plan's folder, and
    the validated plan itself (its sections)."""

    profile: Any  # crmqa.profiles.models.Profile
    base_dir: Path
    plan: Any = None  # crmqa.plan.models.Plan


class Evidence(Protocol):
    """Where a driver puts files it keeps (screenshots, traces, downloads)."""

    run_dir: Path

    def path_for(self, name: str) -> Path: ...


class StepContext(Protocol):
    """What a driver may use while running one step of one case."""

    case_id: str
    worker_id: str
    evidence: Evidence

    @property
    def target(self) -> Any: ...  # crmqa.profiles.target.ResolvedTarget

    def track_created(self, entity: str, record_id: Any, identity: str, *,
                      values: Mapping[str, Any] | None = None) -> None:
        """Remember a record this case created so the engine deletes it at the end.

        When no id could be read (`record_id` None), `values` are what the case entered: the
        engine finds the record again by the unique ones (an e-mail, the run's token).
        """


class StepDriver(Protocol):
    """A driver handles some step kinds for one target within one worker."""

    name: str

    def handles(self, step: Any) -> bool: ...

    def run(self, step: Any, ctx: StepContext) -> StepOutput: ...

    def needs(self, step: Any) -> list[str]:
        """Capabilities the step needs (e.g. "lead.import", "screen:lead_import")."""
        ...

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        """Delete a record a case created; raises with the reason when it cannot.

        A driver may also offer, and the engine then uses them for any driver's records:
        `can_delete(entity) -> bool` (the engine asks drivers in registration order, so the
        API comes before the UI) and `find_created(entity, values, identity) -> list | None`
        (ids of the records holding all `values`; None when it cannot search that entity).
        """
        ...

    def close(self) -> None: ...
