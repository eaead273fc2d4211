"""Concluding a run: results on disk -> defect ledger -> gates -> verdict -> report files.

Both the pytest plugin (at the end of a session) and `crmqa gates RUN` (re-evaluation later,
e.g. after a waiver was added) come through here, so a verdict is always computed one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from crmqa.core.fit import blame_misfits
from crmqa.core.messages import CLAUSE_SEPARATOR, joined
from crmqa.core.results import CaseResult, RunInfo
from crmqa.gates import Verdict, Withheld, WithheldKind, evaluate
from crmqa.ledger import Campaign, Defect, Ledger
from crmqa.plan.loader import LoadedPlan
from crmqa.plan.waivers import apply_waivers


@dataclass
class Conclusion:
    run_info: RunInfo
    results: list[CaseResult]
    verdict: Verdict
    defects: list[Defect]
    campaign: Campaign
    # False when an older run was re-evaluated: the campaign's current state did not change
    latest: bool = True

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code


def conclude(
    run_dir: Path,
    run_info: RunInfo,
    results: list[CaseResult],
    loaded: LoadedPlan,
    *,
    ledger_path: Path,
    today: date | None = None,
    interruption: Withheld | None = None,
) -> Conclusion:
    """Record the run in the ledger, evaluate the gates and write every report file.

    `interruption` says that the run was stopped before every case finished: the verdict is
    then withheld, and the campaign's suspension state is left as it was. Failures caused by
    a target that does not fit its profile (crmqa.core.fit) become environment problems
    before anything is recorded, and withhold the verdict too.
    """
    from crmqa.reports import write_run_outputs

    plan = loaded.plan
    today = today or datetime.now(UTC).date()
    results, misfits = blame_misfits(results)
    results = apply_waivers(results, plan.waivers)
    withheld = interruption
    if withheld is None and misfits:
        withheld = Withheld.worded(
            WithheldKind.ENVIRONMENT,
            joined([misfit.words() for misfit in misfits], CLAUSE_SEPARATOR))
    ledger = Ledger(ledger_path)
    campaign = Campaign.of(run_info)
    # Recorded first, so that a run re-evaluated later gets the state from before it.
    defects = ledger.record_run(run_info, results, waivers=plan.waivers)
    previously_suspended = ledger.is_suspended(campaign, before=run_info.run_id)
    verdict = evaluate(
        results,
        plan.gates,
        plan.scales,
        defects,
        today,
        previously_suspended=previously_suspended,
        withheld=withheld,
    )
    if verdict.decision is not None:  # a run without a decision says nothing about suspension
        ledger.set_suspended(
            campaign, verdict.suspended, run_info.run_id, decision=verdict.decision.value
        )
    latest = ledger.latest_run(campaign)
    # The report lists the campaign's defects as of this run, fixed ones included; the gates
    # weigh open ones, which for an older run carry the plan's waivers only in `defects`.
    weighed = {d.id: d for d in defects}
    history = [weighed.get(d.id, d) for d in ledger.history(campaign, as_of=run_info.run_id)]
    write_run_outputs(run_dir, run_info, results, verdict, history, plan)
    return Conclusion(
        run_info, results, verdict, defects, campaign,
        latest is not None and latest.run_id == run_info.run_id,
    )
