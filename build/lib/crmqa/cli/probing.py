"""`crmqa probe PLAN`: is the target's profile fit to run the plan? Asked of the live CRM.

The plan is validated as for a run (exit 3 on any problem), then crmqa/drivers/api/probe.py
logs in with each identity and runs each operation the profile declares once, on a throw-away
record. The table says what works; every operation that does not comes with its evidence and
the profile key to fix. Exit 0: every login and operation the plan uses works; 4: not fit (or
the target cannot be reached, or a throw-away record stayed); 3: the plan or the profile is
wrong; 130: interrupted (the throw-away records are still removed).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.driver import ApiDriver
from crmqa.drivers.api.probe import (
    MISSING,
    NOT_PROBED,
    REFUSED,
    UNEXPECTED,
    WORKS,
    Prober,
    ProbeReport,
)
from crmqa.drivers.registry import DriverEnvironment
from crmqa.plan.canonical import CHANGING_OPERATIONS
from crmqa.plan.loader import LoadedPlan
from crmqa.plan.models import OpStep, WaitStep
from crmqa.profiles.target import resolve_target

EXIT_FIT = 0
EXIT_NOT_FIT = 4
EXIT_INTERRUPTED = 130
_STYLE = {WORKS: "green", UNEXPECTED: "yellow", REFUSED: "red", MISSING: "dim",
          NOT_PROBED: "dim"}
_EVIDENCE_LINES = 40


def operations_used(loaded: LoadedPlan, destructive_ok: bool) -> set[str]:
    """The canonical operations the plan's cases use on this target (`lead.create`); those
    that change records only when the target allows changes (otherwise their cases are not
    applicable anyway)."""
    used: set[str] = set()
    for loaded_case in loaded.cases:
        case = loaded_case.case
        for step in (*case.setup, *case.steps, *case.teardown):
            inner = step.wait_until.step if isinstance(step, WaitStep) else step
            if isinstance(inner, OpStep):
                used.add(inner.op)
    if not destructive_ok:
        used = {op for op in used if op.split(".", 1)[1] not in CHANGING_OPERATIONS}
    return used


def probe_plan(plan: Path, *, target: str | None, verbose: bool, console: Console) -> int:
    """Validate the plan, probe its target, print the table; the exit code says if it is fit."""
    from crmqa.validation import prepare_run
    from crmqa.validation.cases import identities_used

    prepared = prepare_run(plan, target=target, environment=os.environ)
    loaded = prepared.loaded
    target_spec = loaded.plan.targets[prepared.target_name]
    resolved = resolve_target(prepared.target_name, target_spec, loaded.base_dir,
                              profile=prepared.profile)
    console.print(f"Probing target [bold]{escape(resolved.name)}[/] (profile "
                  f"{escape(resolved.profile.name)}) at {escape(resolved.base_url)}",
                  soft_wrap=True)
    if not target_spec.destructive_ok:
        console.print(
            f"[yellow]note:[/] target '{escape(resolved.name)}' has destructive_ok: false, so "
            "the probe creates no throw-away record: only operations that read are probed "
            "(set destructive_ok: true on the target to probe the others)", soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix="crmqa-probe-") as folder:
        driver = ApiDriver(DriverEnvironment(
            target=resolved, worker_id="probe", run_dir=Path(folder),
            base_dir=loaded.base_dir, evidence="on"))
        prober = Prober(driver,
                        needed_operations=operations_used(loaded, target_spec.destructive_ok),
                        needed_identities=identities_used(loaded, target_spec))
        try:
            report = prober.run()
        except KeyboardInterrupt:
            render_report(console, prober.report, verbose)
            console.print("[bold red]interrupted[/]: the probe stopped; " + (
                "its throw-away records were removed" if not prober.report.leftovers
                else "some throw-away records stayed (above)"))
            return EXIT_INTERRUPTED
        except EnvironmentProblem as problem:
            render_report(console, prober.report, verbose)
            console.print(f"[bold red]the target cannot be probed:[/] {escape(str(problem))}",
                          soft_wrap=True)
            return EXIT_NOT_FIT
        finally:
            driver.close()
    render_report(console, report, verbose)
    return EXIT_FIT if report.fit else EXIT_NOT_FIT


def render_report(console: Console, report: ProbeReport, verbose: bool) -> None:
    """The table (`used`: the plan's cases use it), then the evidence and hint of every row
    that does not work."""
    table = Table(show_edge=False, pad_edge=False, expand=False)
    table.add_column("operation", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("used", no_wrap=True)
    table.add_column("request", overflow="fold")
    for row in report.rows:
        style = _STYLE.get(row.verdict, "")
        table.add_row(escape(row.subject), f"[{style}]{escape(row.verdict)}[/]",
                      "yes" if row.needed else "", escape(row.summary))
    console.print(table)
    for row in report.rows:
        if row.verdict == WORKS and not verbose:
            continue
        if row.verdict in (MISSING, NOT_PROBED) and not verbose:
            console.print(f"[dim]{escape(row.subject)}: {escape(row.verdict)}: "
                          f"{escape(row.detail)}[/]", soft_wrap=True)
            continue
        console.print(f"\n[bold]{escape(row.subject)}[/]: {escape(row.verdict)}"
                      + (f" — {escape(row.detail)}" if row.detail else ""), soft_wrap=True)
        if row.hint:
            console.print(f"  fix: {escape(row.hint)}", soft_wrap=True)
        for exchange in row.evidence:
            lines = exchange.splitlines()
            if not verbose and len(lines) > _EVIDENCE_LINES:
                lines = [*lines[:_EVIDENCE_LINES], f"... ({len(lines) - _EVIDENCE_LINES} more "
                         "lines; --verbose shows all)"]
            console.print("\n".join("    " + line for line in lines), markup=False,
                          soft_wrap=True, highlight=False)
    for leftover in report.leftovers:
        console.print(f"[bold red]left behind:[/] {escape(leftover)}", soft_wrap=True)
    blocking = [row.subject for row in report.rows if row.blocks]
    if report.fit:
        console.print(f"\n[green]✔[/] profile '{escape(report.profile)}' is fit to run the "
                      f"plan on target '{escape(report.target)}'", soft_wrap=True)
    else:
        reasons = []
        if blocking:
            reasons.append(f"the plan uses {', '.join(blocking)}, which "
                           f"{'does' if len(blocking) == 1 else 'do'} not work")
        if report.leftovers:
            reasons.append(f"{len(report.leftovers)} throw-away record(s) stayed")
        if report.interrupted:
            reasons.append("the probe was interrupted")
        console.print(f"\n[bold red]✘[/] profile '{escape(report.profile)}' is not fit to "
                      f"run the plan on target '{escape(report.target)}': "
                      f"{escape('; '.join(reasons))}", soft_wrap=True)
