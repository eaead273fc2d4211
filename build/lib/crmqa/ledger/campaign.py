"""A campaign: one plan run, fixed and run again against one target.

The same plan run against two vendors' CRMs (two targets of the plan) is two campaigns: each
has its own defects, runs and suspension state, so that one vendor's passing run never closes
the other vendor's defects. The builds under test within one campaign are not separate
campaigns: a defect failing on build 1.0 and passing on 1.1 is fixed, which is what a campaign
tracks (each run records its `system_version`).
"""

from __future__ import annotations

from dataclasses import dataclass

from crmqa.core.results import RunInfo


@dataclass(frozen=True, order=True)
class Campaign:
    """Plan id + target name: the key of every defect, run and suspension state in the ledger.

    `target` is "" for a run that recorded no target (and for history kept from a ledger of
    schema version 1 that no target has claimed yet, see `Ledger`).
    """

    plan_id: str
    target: str

    @classmethod
    def of(cls, run_info: RunInfo) -> Campaign:
        """The campaign a run belongs to."""
        return cls(run_info.plan_id, run_info.target)

    def __str__(self) -> str:
        if self.target:
            return f"{self.plan_id} on {self.target}"
        return f"{self.plan_id} (no target recorded)"
