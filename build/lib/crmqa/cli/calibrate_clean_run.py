"""`crmqa calibrate --clean-run RUN`: a clean run made earlier stands in for calibration's own.

Calibration needs the plan's results on a sandbox without faults: the baseline a fault must
change. A run folder written by `crmqa run` (or `pytest PLAN`) of the same plan on a clean
sandbox holds exactly that, so calibration may reuse it instead of running the whole plan
again. It is accepted only when it cannot differ from a run calibration would make:

- the same crmqa version and the same plan and suite files (`LoadedPlan.digest`);
- a target that uses the sandbox profile;
- the whole plan: no selection (`-k`), and a result for every case (not interrupted).

Anything else is refused as a usage error (exit 3), with what differs. A case that failed in
the reused run is a false failure, as in a fresh clean run, and is never blamed on a fault;
so a run that was not clean after all can make calibration fail, never pass.
"""

from __future__ import annotations

from pathlib import Path

from crmqa import __version__
from crmqa.cli.calibrate_pool import RunResult, result_key
from crmqa.core.errors import CrmqaError
from crmqa.plan.loaded import LoadedPlan
from crmqa.reports.run_folder import RunFolderError, read_results

__all__ = ["CleanRunRefused", "reuse_clean_run"]


class CleanRunRefused(CrmqaError):
    """The run folder cannot stand in for a clean run of this plan: a usage error."""

    exit_code = 3


def reuse_clean_run(plan: LoadedPlan, run_dir: Path) -> RunResult:
    """The results of the run in `run_dir` as calibration's clean run, once checked."""
    try:
        info, results = read_results(run_dir)
    except RunFolderError as error:
        raise CleanRunRefused(f"--clean-run: {error}") from None
    refuse = f"--clean-run {run_dir} cannot stand in for a clean run of {plan.path}: "
    rerun = "; run the plan again (crmqa run) or calibrate without --clean-run"
    if info.crmqa_version != __version__:
        raise CleanRunRefused(refuse + f"it was made by crmqa {info.crmqa_version or '(unknown)'}"
                              f", this is crmqa {__version__}" + rerun)
    digest = plan.digest()
    if info.plan_digest != digest:
        made = f"plan digest {info.plan_digest}" if info.plan_digest else "no plan digest"
        raise CleanRunRefused(refuse + f"its plan or suite files differ ({made}, now "
                              f"{digest})" + rerun)
    if info.profile != "sandbox":
        raise CleanRunRefused(refuse + f"it ran against target {info.target!r} with profile "
                              f"{info.profile!r}, not the sandbox" + rerun)
    if info.selection:
        raise CleanRunRefused(refuse + f"it ran a selection ({info.selection!r}), not the "
                              "whole plan" + rerun)
    missing = sorted(set(plan.case_ids) - {result.case_id for result in results})
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        raise CleanRunRefused(refuse + f"{len(missing)} case(s) have no result ({shown}): "
                              "the run was interrupted" + rerun)
    seconds = (info.finished_at - info.started_at).total_seconds() if info.finished_at else 0.0
    return RunResult(f"clean (reused {info.run_id})", (), None,
                     {result_key(result): result for result in results}, seconds,
                     worker="reused")
