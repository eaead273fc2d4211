"""The per-case context drivers see: who runs, where evidence goes, what the case created."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmqa.core.results import Attachment
from crmqa.drivers.base import Evidence
from crmqa.drivers.registry import EvidenceMode
from crmqa.profiles.target import ResolvedTarget

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


class CaseEvidence:
    """Files a driver keeps for one case: `<run_dir>/evidence/<case>/<name>`."""

    run_dir: Path

    def __init__(self, run_dir: Path, case_key: str) -> None:
        self.run_dir = run_dir
        self._folder = run_dir / "evidence" / _UNSAFE.sub("_", case_key)

    def path_for(self, name: str) -> Path:
        self._folder.mkdir(parents=True, exist_ok=True)
        return self._folder / _UNSAFE.sub("_", name)


@dataclass
class PendingEvidence:
    """Evidence offered by a driver; rendered only if the evidence mode keeps it."""

    name: str
    render: Callable[[], str]
    mime_type: str = "text/plain"

    def materialize(self) -> Attachment:
        return Attachment(name=self.name, mime_type=self.mime_type, text=self.render())


@dataclass
class CreatedRecord:
    """A record the case created, known by its id or, when no id was seen, by what was entered."""

    entity: str
    record_id: Any  # None: known only by `values`
    identity: str  # who created it
    driver: Any  # the driver that created it
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class CaseContext:
    """Implements `crmqa.drivers.base.StepContext` for one run of one case."""

    case_id: str
    worker_id: str
    evidence: Evidence  # a CaseEvidence
    resolved_target: ResolvedTarget
    evidence_mode: EvidenceMode = "retain-on-failure"
    created: list[CreatedRecord] = field(default_factory=list)
    pending: list[PendingEvidence] = field(default_factory=list)
    current_driver: Any = None
    # The case's template names (fake, vars, saved, params, unique, rules): a driver that
    # renders templates itself (a case section such as `load:`) starts from these.
    templates: dict[str, Any] = field(default_factory=dict)
    # Live progress of a long step (a load, a migration check) for the console; the
    # reporter's, if it has one.
    progress: Callable[[str], None] | None = None

    @property
    def target(self) -> ResolvedTarget:
        return self.resolved_target

    def track_created(self, entity: str, record_id: Any, identity: str, *,
                      values: Mapping[str, Any] | None = None) -> None:
        """Remember a created record; the engine deletes it when the case ends.

        `record_id` None with `values`: a record whose id was not seen (a form that went back
        to a list); the engine looks it up by the unique ones among those values.
        """
        entered = {str(k): str(v) for k, v in (values or {}).items()}
        for record in self.created:
            if record.entity != entity:
                continue
            if record_id is not None and record.record_id == record_id:
                return
            if record_id is None and record.record_id is None and record.values == entered:
                return
        self.created.append(
            CreatedRecord(entity, record_id, identity, self.current_driver, entered))

    def keep_evidence(self, name: str, render: Callable[[], str],
                      mime_type: str = "text/plain") -> None:
        """Offer evidence lazily: `render` runs only if the step's result calls for it."""
        if self.evidence_mode != "off":
            self.pending.append(PendingEvidence(name, render, mime_type))

    def take_evidence(self, keep: bool) -> list[Attachment]:
        """The pending evidence of the step just run, rendered if `keep`, then forgotten."""
        pending, self.pending = self.pending, []
        if not keep:
            return []
        return [item.materialize() for item in pending]
