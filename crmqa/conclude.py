"""Concluding a run: results on disk -> defect ledger -> gates -> verdict -> report files.

Both the pytest plugin (at the end of a session) and `crmqa gates RUN` (re-evaluation later,
e.g. after a waiver was added) come through here, so a verdict is always computed one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.results import BrokenKind, CaseResult, Outcome, RunInfo
from crmqa.gates import Verdict, evaluate
from crmqa.ledger import Campaign, Defect, Ledger
from crmqa.plan.loader import LoadedPlan


@dataclass
class Conclusion:
    run_info: RunInfo
    results: list[CaseResult]
    verdict: Verdict
    defects: list[Defect]
    exit_code: int
    target_unreachable: bool
    campaign: Campaign
    # False when an older run was re-evaluated: the campaign's current state did not change
    latest: bool = True


def target_unreachable(results: list[CaseResult]) -> bool:
    """Every executed case hit an environment problem: the CRM was not there to judge."""
    executed = [r for r in results if r.outcome in (Outcome.PASSED, Outcome.FAILED, Outcome.BROKEN)]
    return bool(executed) and all(
        r.outcome is Outcome.BROKEN and r.broken_kind is BrokenKind.ENVIRONMENT for r in executed
    )


def conclude(
    run_dir: Path,
    run_info: RunInfo,
    results: list[CaseResult],
    loaded: LoadedPlan,
    *,
    ledger_path: Path,
    today: date | None = None,
) -> Conclusion:
    """Record the run in the ledger, evaluate the gates and write every report file."""
    from crmqa.reports import write_run_outputs

    plan = loaded.plan
    today = today or datetime.now(UTC).date()
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
    )
    ledger.set_suspended(
        campaign, verdict.suspended, run_info.run_id, decision=verdict.decision.value
    )
    latest = ledger.latest_run(campaign)
    unreachable = target_unreachable(results)
    if unreachable:
        verdict.warnings.insert(
            0,
            "Environment problem: the target could not be reached for any case; "
            "this run says nothing about the product.",
        )
    # The report lists the campaign's defects as of this run, fixed ones included; the gates
    # weigh open ones, which for an older run carry the plan's waivers only in `defects`.
    weighed = {d.id: d for d in defects}
    history = [weighed.get(d.id, d) for d in ledger.history(campaign, as_of=run_info.run_id)]
    write_run_outputs(run_dir, run_info, results, verdict, history, plan)
    exit_code = EnvironmentProblem.exit_code if unreachable else verdict.exit_code
    return Conclusion(
        run_info, results, verdict, defects, exit_code, unreachable, campaign,
        latest is not None and latest.run_id == run_info.run_id,
    )
