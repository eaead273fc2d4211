"""A campaign read back from the ledger: its cycles, its defects' lifecycle, its suspensions.

The ledger keeps one row per defect *occurrence*: a case that fails, passes on the next build
and fails again has two rows, the first closed. People follow one defect across builds, so
this module groups the rows of one fingerprint (campaign + case id + parameters) into one
`DefectStory` with a lifecycle state:

- new: failing, first seen in the run the story is told as of;
- open: failing since an earlier run;
- fixed: the case failed and has passed since;
- reopened: failing again after it had been fixed;
- waived: failing, but an unexpired waiver keeps it out of the gates (an expired waiver
  protects nothing: the defect shows open, new or reopened again, and counts).

Nothing here writes: the lifecycle is derived from the rows the ledger already keeps, so no
state can disagree with the history it comes from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from crmqa.core.results import Waiver
from crmqa.gates import waiver_active
from crmqa.ledger.campaign import Campaign
from crmqa.ledger.store import Defect, DefectStatus, Ledger, LedgerError, RunRecord


class Lifecycle(StrEnum):
    NEW = "new"
    OPEN = "open"
    FIXED = "fixed"
    REOPENED = "reopened"
    WAIVED = "waived"


# States that still count as open (the gates weigh all but waived).
OPEN_STATES = (Lifecycle.NEW, Lifecycle.OPEN, Lifecycle.REOPENED, Lifecycle.WAIVED)


def fingerprint(campaign: Campaign, case_id: str, params_hash: str) -> str:
    """A defect's stable id: the same for every occurrence of one case's failure in a campaign."""
    key = "\x1f".join((campaign.plan_id, campaign.target, case_id, params_hash))
    return "D-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10].upper()


@dataclass
class DefectStory:
    """One defect followed across the runs of a campaign (every occurrence of one fingerprint)."""

    fingerprint: str
    state: Lifecycle
    case_id: str
    params: dict[str, Any]
    title: str
    category: str
    module: str
    severity: str
    priority: str
    message: str
    first_seen_run: str
    first_seen_at: datetime
    last_seen_run: str
    last_seen_at: datetime
    first_seen_build: str = ""
    last_seen_build: str = ""
    fixed_in_run: str | None = None
    fixed_in_build: str = ""
    times_reopened: int = 0
    waiver: Waiver | None = None
    ledger_ids: list[int] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass
class CycleLine:
    """One run of the campaign (a test cycle) with the build it tested and its verdict."""

    number: int
    run: RunRecord
    # "suspended" when this run suspended testing, "resumed" when it lifted a suspension,
    # "still suspended" / "" otherwise.
    suspension: str


@dataclass
class CampaignStatus:
    """Everything `crmqa campaign status` shows, as of one run (default: the latest)."""

    campaign: Campaign
    cycles: list[CycleLine]
    defects: list[DefectStory]
    suspended: bool
    as_of_run: str | None
    today: date

    @property
    def latest(self) -> RunRecord | None:
        return self.cycles[-1].run if self.cycles else None

    @property
    def builds(self) -> list[str]:
        """The builds under test, in the order they were first tested."""
        seen: dict[str, None] = {}
        for cycle in self.cycles:
            seen.setdefault(cycle.run.system_version or "(unnamed)", None)
        return list(seen)

    def count(self, state: Lifecycle) -> int:
        return sum(1 for story in self.defects if story.state is state)

    @property
    def open_count(self) -> int:
        """Open defects the gates weigh (waived ones apart)."""
        return sum(1 for s in self.defects if s.is_open and s.state is not Lifecycle.WAIVED)


def defect_stories(
    campaign: Campaign,
    history: Sequence[Defect],
    runs: Sequence[RunRecord],
    today: date,
    *,
    as_of_run: str | None = None,
) -> list[DefectStory]:
    """Group the ledger's defect rows (as of a run) into one story per fingerprint.

    `history` is `Ledger.history(campaign, as_of=...)`; `runs` the campaign's runs (for the
    builds). `as_of_run` is the run the story is told as of (a defect first seen in it is new);
    default: the latest of `runs`. Stories come most severe first by ledger order.
    """
    build_of = {run.run_id: run.system_version for run in runs}
    current = as_of_run or (runs[-1].run_id if runs else None)
    grouped: dict[str, list[Defect]] = {}
    for defect in sorted(history, key=lambda d: d.id):
        grouped.setdefault(fingerprint(campaign, defect.case_id, defect.params_hash), []).append(
            defect
        )
    stories = []
    for print_, rows in grouped.items():
        first, last = rows[0], rows[-1]
        earlier_fixed = sum(1 for row in rows[:-1] if row.status is DefectStatus.CLOSED)
        if last.status is DefectStatus.CLOSED:
            state = Lifecycle.FIXED
        elif waiver_active(last.waiver, today):
            state = Lifecycle.WAIVED
        elif earlier_fixed:
            state = Lifecycle.REOPENED
        elif last.first_seen_run == current:
            state = Lifecycle.NEW
        else:
            state = Lifecycle.OPEN
        stories.append(DefectStory(
            fingerprint=print_,
            state=state,
            case_id=last.case_id,
            params=last.params,
            title=last.title,
            category=last.category,
            module=last.module,
            severity=last.severity,
            priority=last.priority,
            message=last.message,
            first_seen_run=first.first_seen_run,
            first_seen_at=first.first_seen_at,
            last_seen_run=last.last_seen_run,
            last_seen_at=last.last_seen_at,
            first_seen_build=build_of.get(first.first_seen_run, ""),
            last_seen_build=build_of.get(last.last_seen_run, ""),
            fixed_in_run=last.fixed_in_run,
            fixed_in_build=build_of.get(last.fixed_in_run or "", ""),
            times_reopened=earlier_fixed,
            waiver=last.waiver,
            ledger_ids=[row.id for row in rows],
        ))
    return stories


def cycle_lines(runs: Sequence[RunRecord]) -> list[CycleLine]:
    """Number the runs and say where testing was suspended and where it resumed."""
    lines = []
    suspended = False
    for number, run in enumerate(runs, start=1):
        if run.suspended is None:  # no decision recorded: the state carries on unchanged
            note = "still suspended" if suspended else ""
        elif run.suspended and not suspended:
            note = "suspended"
        elif run.suspended:
            note = "still suspended"
        elif suspended:
            note = "resumed"
        else:
            note = ""
        if run.suspended is not None:
            suspended = run.suspended
        lines.append(CycleLine(number, run, note))
    return lines


def campaign_status(
    ledger: Ledger, campaign: Campaign, today: date, *, as_of_run: str | None = None
) -> CampaignStatus:
    """The campaign as the ledger knows it: now, or right after run `as_of_run`."""
    runs = ledger.runs(campaign)
    if not runs:
        raise LedgerError(f"the ledger {ledger.path} has no runs of campaign {campaign}")
    if as_of_run is not None:
        ids = [run.run_id for run in runs]
        if as_of_run not in ids:
            raise LedgerError(f"run {as_of_run} is not recorded for campaign {campaign}")
        runs = runs[: ids.index(as_of_run) + 1]
    history = ledger.history(campaign, as_of=as_of_run)
    cycles = cycle_lines(runs)
    return CampaignStatus(
        campaign=campaign,
        cycles=cycles,
        defects=defect_stories(campaign, history, runs, today, as_of_run=as_of_run),
        suspended=next(
            (bool(run.suspended) for run in reversed(runs) if run.suspended is not None), False
        ),
        as_of_run=as_of_run,
        today=today,
    )
