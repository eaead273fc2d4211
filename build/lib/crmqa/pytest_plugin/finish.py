"""The end of a session on the controller: one run record, one verdict, one exit code."""

from __future__ import annotations

import io
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from crmqa import __version__
from crmqa.conclude import conclude
from crmqa.core.errors import CrmqaError, EnvironmentProblem, PlanError
from crmqa.core.messages import say
from crmqa.core.results import CaseResult, Outcome, RunInfo
from crmqa.gates import Verdict, Withheld, WithheldKind
from crmqa.plan.loader import LoadedPlan
from crmqa.profiles.target import expand_target_value
from crmqa.pytest_plugin.state import RunState
from crmqa.reports.run_folder import read_case_results


def finish_run(state: RunState, plan_paths: list[Path], *, interrupted: bool = False) -> int:
    """Read every worker's results, conclude the run, keep the printed summary for the end.

    An interrupted run is concluded too (reports of what finished), but its verdict is
    withheld and says what had finished.
    """
    if len(plan_paths) != 1:
        state.summary_text = "crmqa runs one plan per session; name exactly one plan file.\n"
        return PlanError.exit_code
    loaded = state.loaded_plan(plan_paths[0])  # as collection loaded it, if it did
    results = read_case_results(state.run_dir)
    run_info = make_run_info(state, loaded)
    (state.run_dir / "run.json").write_text(run_info.model_dump_json(indent=2), encoding="utf-8")
    try:
        conclusion = conclude(
            state.run_dir,
            run_info,
            results,
            loaded,
            ledger_path=Path(state.config.option.crmqa_reports) / "ledger.sqlite",
            interruption=interruption(state.planned, results) if interrupted else None,
        )
    except CrmqaError as error:
        state.summary_text = f"\ncrmqa could not conclude the run: {error}\n"
        return error.exit_code
    state.concluded_broken = {result.history_id for result in conclusion.results
                              if result.outcome is Outcome.BROKEN}
    state.summary_text = _render_summary(
        conclusion.verdict, state.run_dir, markup=_terminal_has_markup(state.config),
        lang=run_info.lang,
    )
    return conclusion.exit_code


def recount(stats: dict[str, list[Any]], broken: set[str]) -> None:
    """pytest's own counts (its last line: "3 failed, 9 passed") as the run concluded them.

    pytest counts a broken case as failed (both raise), and counted each case before the run
    concluded: a failure the profile-fit rule blamed on the target is broken in the verdict.
    Such reports move to their own "broken" count, so that pytest's line does not say a case
    failed where crmqa's verdict says it could not be judged.
    """
    # a broken case raised (failed), or was blocked (skipped) before the fit rule blamed it
    for category in ("failed", "skipped"):
        kept = []
        for report in stats.get(category, []):
            history = dict(getattr(report, "user_properties", ())).get("crmqa_history")
            if getattr(report, "when", "") == "call" and history in broken:
                stats.setdefault("broken", []).append(report)
            else:
                kept.append(report)
        if category in stats:
            if kept:
                stats[category] = kept
            else:
                del stats[category]


def interruption(planned: list[str], results: list[CaseResult]) -> Withheld:
    """What an interrupted run had finished, and which selected cases it never finished."""
    remaining = Counter(name.split("[", 1)[0] for name in planned)
    remaining.subtract(result.case_id for result in results)
    not_run = [case_id for case_id, left in remaining.items() if left > 0]
    total = max(len(planned), len(results))
    return Withheld.worded(
        WithheldKind.INTERRUPTED,
        say("the run was interrupted after %(finished)s of %(planned)s case(s): the reports "
            "cover only the cases that finished", finished=len(results), planned=total),
        finished=len(results),
        planned=total,
        not_run=not_run,
    )


def make_run_info(state: RunState, loaded: LoadedPlan) -> RunInfo:
    plan = loaded.plan
    target_name = state.target_override or plan.target
    target = plan.targets.get(target_name)
    base_url = ""
    if target is not None:
        try:
            base_url = expand_target_value(target.base_url, "base_url", os.environ)
        except EnvironmentProblem:
            base_url = target.base_url
    return RunInfo(
        run_id=state.run_id,
        plan_id=plan.id,
        plan_name=plan.name,
        plan_file=str(loaded.path),
        system=plan.system.name,
        # The vendor ships builds faster than plans are edited: the run names its build.
        system_version=state.config.option.crmqa_build or plan.system.version,
        target=target_name,
        base_url=base_url,
        profile=target.profile if target else "",
        started_at=state.started_at,
        finished_at=datetime.now(UTC),
        crmqa_version=__version__,
        plan_digest=loaded.digest(),
        selection=state.config.option.keyword or "",
        lang=state.config.option.crmqa_lang or "en",
    )


def _terminal_has_markup(config: pytest.Config) -> bool:
    """Whether pytest colours its own output (a terminal, --color, PY_COLORS, NO_COLOR,
    FORCE_COLOR): the summary is printed through pytest's writer, so it follows suit."""
    if config.pluginmanager.get_plugin("terminalreporter") is None:
        return False
    return bool(config.get_terminal_writer().hasmarkup)


def _render_summary(verdict: Verdict, run_dir: Path, *, markup: bool, lang: str = "en") -> str:
    from crmqa.reports import render_verdict

    buffer = io.StringIO()
    # pytest's writer speaks the 8 standard colours; so does the summary when it colours.
    console = Console(
        file=buffer,
        force_terminal=markup,
        color_system="standard" if markup else None,
        width=110,
        highlight=False,
    )
    console.print()
    render_verdict(console, verdict, lang)
    console.print(f"Reports: {run_dir}/ (summary.md, summary.html, verdict.json, defects.csv)")
    return buffer.getvalue()
