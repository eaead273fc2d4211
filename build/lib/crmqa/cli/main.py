"""`crmqa`: a thin, friendly front end over the pytest plugin and the report writers.

Exit codes: 0 accepted, 1 rejected, 2 suspended, 3 bad plan or usage, 4 target unreachable
(`crmqa probe`: 0 fit, 4 not fit).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from crmqa import __version__
from crmqa.core.errors import CrmqaError, PlanError, PlanIssue

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

EXIT_USAGE = 3


def _fail(error: CrmqaError) -> None:
    if isinstance(error, PlanError):
        err_console.print(f"[bold red]{len(error.issues)} problem(s) found:[/]")
        for issue in error.issues:
            err_console.print(issue.format(), markup=False, soft_wrap=True)
    else:
        err_console.print(f"[bold red]error:[/] {error}", soft_wrap=True)
    sys.exit(error.exit_code)


class CrmqaGroup(click.Group):
    """Turns crmqa's own errors into messages and exit codes, never tracebacks."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CrmqaError as error:
            _fail(error)
        except click.UsageError as error:
            error.exit_code = EXIT_USAGE  # type: ignore[misc]  # crmqa: usage errors exit 3
            raise
        return None


def _ui_value(pytest_option: str) -> Callable[[click.Context, click.Parameter, object], object]:
    """A click callback checking a browser option as the pytest option it maps onto."""

    def check(ctx: click.Context, param: click.Parameter, value: object) -> object:
        if value is None:
            return None
        from crmqa.drivers.ui.options import UiOptionsError
        from crmqa.pytest_plugin.options import UI_OPTIONS, check_ui_value

        (option,) = [o for o in UI_OPTIONS if o.name == pytest_option]
        try:
            check_ui_value(option, str(value))
        except UiOptionsError as error:
            raise click.BadParameter(str(error)) from None
        return value

    return check


def _language(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A report language crmqa has a catalogue for; anything else is a usage error (exit 3)
    that names the languages and the likely one (`zh-CN` -> zh)."""
    from crmqa.core.languages import LANGUAGES, unknown_language_message

    if value is None or value in LANGUAGES:
        return value
    raise click.BadParameter(unknown_language_message(value))


@click.group(cls=CrmqaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmqa")
def cli() -> None:
    """Acceptance testing of CRM systems from YAML plans."""


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("plan", type=click.Path(path_type=Path))
@click.option("--target", "-t", help="target name from the plan (default: the plan's target)")
@click.option("-k", "keyword", help="only cases matching this pytest -k expression")
@click.option("-m", "marker", help="only cases matching this marker expression (e.g. security)")
@click.option("--workers", "-n", type=int, default=1, show_default=True, help="parallel workers")
@click.option("--reports", type=click.Path(path_type=Path), default=Path("reports"),
              show_default=True, help="folder that receives reports/<run-id>/")
@click.option("--run-id", help="name of the run folder (default: time + random)")
@click.option("--build", help="the build or version under test (default: the plan's "
              "system.version); the campaign tracks defects across builds")
@click.option("--evidence", type=click.Choice(["on", "off", "retain-on-failure"]),
              help="keep requests, screenshots and traces (default: retain-on-failure)")
@click.option("--headed", is_flag=True, help="show the browser for UI steps")
@click.option("--viewport", metavar="WxH", callback=_ui_value("--crmqa-viewport"),
              help="browser viewport (default: 1280x800)")
@click.option("--browser-url", metavar="URL", callback=_ui_value("--crmqa-browser-url"),
              help="drive a remote browser: ws://... (Playwright connect) or http://host:9222")
@click.option("--video", is_flag=True, help="record video of UI cases")
@click.option("--trace", type=click.Choice(["on", "off", "retain-on-failure"]),
              help="Playwright trace of UI cases (default: the evidence mode)")
@click.option("--slow-mo", type=float, metavar="MS", callback=_ui_value("--crmqa-slow-mo"),
              help="slow every browser action down by MS milliseconds")
@click.option("--ui-timeout", type=float, metavar="S", callback=_ui_value("--crmqa-ui-timeout"),
              help="default bound of a UI step in seconds, at most 10 (default: 5)")
@click.option("--html/--no-html", default=False, help="also render the Allure HTML report")
@click.option("--confirm-load", is_flag=True,
              help="allow load cases against a target that is not on this machine")
@click.option("--load-workers", type=click.IntRange(0, 256), metavar="N",
              help="run each load on a Locust master and N worker processes")
@click.option("--load-external-workers", type=click.IntRange(0, 256), metavar="N",
              help="also wait for N Locust workers started elsewhere (crmqa load-worker)")
@click.option("--load-bind", metavar="HOST:PORT",
              help="where the Locust master listens for workers (default: 127.0.0.1:5557)")
@click.option("--documents", "documents_format", type=click.Choice(["html", "pdf"]),
              help="also write the documents (crmqa documents): html, or html and pdf")
@click.option("--lang", default="en", show_default=True, callback=_language,
              help="language of the reports: en, zh or ru (summary, verdict, Allure, "
              "documents; case titles where the suite translated them)")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def run(
    plan: Path,
    target: str | None,
    keyword: str | None,
    marker: str | None,
    workers: int,
    reports: Path,
    run_id: str | None,
    build: str | None,
    evidence: str | None,
    headed: bool,
    viewport: str | None,
    browser_url: str | None,
    video: bool,
    trace: str | None,
    slow_mo: float | None,
    ui_timeout: float | None,
    html: bool,
    confirm_load: bool,
    load_workers: int | None,
    load_external_workers: int | None,
    load_bind: str | None,
    documents_format: str | None,
    lang: str,
    pytest_args: tuple[str, ...],
) -> None:
    """Run an acceptance PLAN and print the verdict. Extra arguments go to pytest."""
    from crmqa.cli.running import run_plan
    from crmqa.load.options import pytest_load_arguments

    load_args = pytest_load_arguments(confirm=confirm_load, workers=load_workers,
                                      external_workers=load_external_workers, bind=load_bind)

    code = run_plan(
        plan,
        target=target,
        keyword=keyword,
        marker=marker,
        workers=workers,
        reports=reports,
        run_id=run_id,
        build=build,
        evidence=evidence,
        headed=headed,
        viewport=viewport,
        browser_url=browser_url,
        video=video,
        trace=trace,
        slow_mo=slow_mo,
        ui_timeout=ui_timeout,
        render_html=html,
        documents=documents_format,
        lang=lang,
        extra=[*load_args, *pytest_args],
        console=console,
    )
    sys.exit(code)


@cli.command("load-worker")
@click.option("--master", "master", required=True, metavar="HOST[:PORT]",
              help="the Locust master of a `crmqa run --load-external-workers N` (port 5557)")
def load_worker(master: str) -> None:
    """Lend this machine to a load: a Locust worker that takes its work from the master.

    Needs crmqa installed and the target's credential variables set, as for a run.
    """
    from crmqa.load.distributed import run_worker

    sys.exit(run_worker(master))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", "-t", help="check plans for this target (default: every target)")
def validate(paths: tuple[Path, ...], target: str | None) -> None:
    """Check plans, suites and profiles without running anything; every problem at once.

    A plan is checked with everything a run loads: its suites, its targets' profiles and
    adapters, screen names, paths and data files. Environment variables are not required.
    """
    from crmqa.plan.loader import validate_paths
    from crmqa.validation import prepare_run

    notes: list[str] = []

    def plan_issues(path: Path) -> list[PlanIssue]:
        try:
            prepared = prepare_run(path, target=target, all_targets=target is None)
        except PlanError as error:
            return error.issues
        notes.extend(prepared.notes)
        return []

    issues = validate_paths(
        list(paths), extra_kinds={"entities": _profile_issues, "targets": plan_issues}
    )
    if issues:
        raise PlanError(issues)
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    console.print(f"[green]✔[/] no problems in {len(paths)} path(s)")


def _profile_issues(path: Path) -> list[PlanIssue]:
    """Profiles are told apart by their `entities` key; the plan layer cannot import them."""
    from crmqa.profiles.loader import load_profile

    try:
        load_profile(path)
    except PlanError as error:
        return error.issues
    return []


@cli.command()
@click.argument("plan", type=click.Path(path_type=Path))
@click.option("--target", "-t", help="target name from the plan (default: the plan's target)")
@click.option("--verbose", "-v", is_flag=True,
              help="show every operation's detail and whole evidence, not only failures'")
def probe(plan: Path, target: str | None, verbose: bool) -> None:
    """Check the target's profile against the live CRM before PLAN runs.

    Logs in with each identity and runs each operation the profile declares once, on a
    throw-away record it removes afterwards (needs destructive_ok: true on the target;
    without it only reading operations are probed). Prints what works, and for what does
    not, the evidence and the profile key to fix. Exit 0: fit to run the plan; 4: not fit
    or the target cannot be reached; 3: the plan or the profile is wrong.
    """
    from crmqa.cli.probing import probe_plan

    sys.exit(probe_plan(plan, target=target, verbose=verbose, console=console))


@cli.command()
@click.argument("plan", type=click.Path(path_type=Path))
@click.option("--list", "as_list", is_flag=True, help="a table of the cases instead of YAML")
@click.option("--generator", "-g", "generators", multiple=True,
              help="only the cases of this generator (repeatable)")
def expand(plan: Path, as_list: bool, generators: tuple[str, ...]) -> None:
    """Print the cases PLAN's generators make (`generate:`), as YAML or as a table.

    The cases are the ones a run collects, with the same ids: validated as written cases
    are, so a plan that does not load prints its problems instead.
    """
    from crmqa.cli.expanding import print_expansion

    print_expansion(plan, as_list=as_list, generators=generators, console=console)


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("schema"), show_default=True)
def schema(out: Path) -> None:
    """Write the JSON Schemas of plans, suites and profiles (for editor completion)."""
    from crmqa.cli.schemas import export_all

    for path in export_all(out):
        console.print(f"wrote {path}", markup=False, soft_wrap=True)


@cli.command()
@click.argument("run", required=False)
@click.option("--reports", type=click.Path(path_type=Path), default=Path("reports"),
              show_default=True)
def report(run: str | None, reports: Path) -> None:
    """Render the Allure HTML report of RUN (default: the latest run) offline."""
    from crmqa.cli.running import find_run_dir
    from crmqa.reports import render_allure_html

    run_dir = find_run_dir(reports, run)
    index = render_allure_html(run_dir)
    console.print(f"Allure report: [bold]{escape(str(index))}[/] (opens from disk)", soft_wrap=True)
    summary = run_dir / "summary.html"
    if summary.exists():
        console.print(f"Test summary:  [bold]{escape(str(summary))}[/]", soft_wrap=True)


@cli.command()
@click.argument("run", required=False)
@click.option("--reports", type=click.Path(path_type=Path), default=Path("reports"),
              show_default=True)
@click.option("--plan", "plan_path", type=click.Path(path_type=Path),
              help="plan file to take the gates from (default: the one the run recorded)")
def gates(run: str | None, reports: Path, plan_path: Path | None) -> None:
    """Re-evaluate the gates of RUN from its results folder (e.g. after a waiver)."""
    from crmqa.cli.running import find_run_dir, regate

    sys.exit(regate(find_run_dir(reports, run), plan_path, console))


@cli.command()
@click.argument("run", required=False)
@click.option("--reports", type=click.Path(path_type=Path), default=Path("reports"),
              show_default=True)
@click.option("--plan", "plan_path", type=click.Path(path_type=Path),
              help="plan file to describe (default: the one the run recorded)")
@click.option("--pdf/--no-pdf", default=False,
              help="also print each document to PDF with Chromium (CHROMIUM_PATH)")
@click.option("--lang", callback=_language,
              help="language of the documents: en, zh or ru (default: the run's language); "
              "plan and CRM data as written, case titles as the suite translated them")
def documents(
    run: str | None, reports: Path, plan_path: Path | None, pdf: bool, lang: str | None
) -> None:
    """Write the test plan, test case specification (HTML and CSV), defect report, test
    completion report and traceability matrix of RUN (default: the latest run) into
    RUN/documents/."""
    from crmqa.cli.running import find_run_dir, write_run_documents

    write_run_documents(find_run_dir(reports, run), plan_path, pdf=pdf, console=console,
                        lang=lang)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Scaffold a plan, a target profile and a suite in DIRECTORY."""
    from crmqa.cli.scaffold import scaffold

    for path in scaffold(directory):
        console.print(f"created {path}", markup=False, soft_wrap=True)
    console.print(f"Next: crmqa validate {directory / 'plan.yaml'}", markup=False, soft_wrap=True)


@cli.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sandbox(args: tuple[str, ...]) -> None:
    """Serve the sandbox CRM (see `crmqa sandbox --help`)."""
    from crmqa.sandbox.__main__ import main as sandbox_main

    sys.exit(sandbox_main(list(args)))


@cli.command()
@click.option("--faults", default="", help="seed these sandbox faults (comma-separated)")
@click.option("--workers", "-n", type=int, default=2, show_default=True)
@click.option("--plan", "plan_path", type=click.Path(path_type=Path),
              default=Path("plans/sandbox.yaml"), show_default=True)
@click.option("--html/--no-html", default=True, help="render the Allure HTML report")
def demo(faults: str, workers: int, plan_path: Path, html: bool) -> None:
    """Start the sandbox CRM, run plans/sandbox.yaml on it and print the verdict."""
    from crmqa.cli.running import run_demo

    sys.exit(run_demo(plan_path, faults=faults, workers=workers, render_html=html,
                      console=console))


@cli.command()
@click.argument("plan", type=click.Path(path_type=Path))
@click.option("--faults", default="",
              help="only these seeded faults (comma-separated; default: the whole catalogue)")
@click.option("--jobs", "-j", type=int, default=None,
              help="sandboxes run at once (default: the number of CPUs, at most 4)")
@click.option("--until-caught", is_flag=True,
              help="stop each group of faults once each is caught (CI): proves every fault is "
                   "caught in a fraction of the time; the matrix then lists the first catches")
@click.option("--clean-runs", type=click.IntRange(0, 10), default=None,
              help="runs of the whole plan on fresh clean sandboxes: a case failing in any "
                   "of them is a false failure [default: 1, or 0 with --clean-run]")
@click.option("--clean-run", "clean_run_dirs", multiple=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="reuse this run folder (crmqa run of the same plan and crmqa version on a "
                   "sandbox without faults) as a clean run instead of running the plan "
                   "again; repeatable")
@click.option("--evidence", type=click.Choice(["off", "retain-on-failure", "on"]),
              default="off", show_default=True, help="evidence kept for each case run")
@click.option("--reports", type=click.Path(path_type=Path), default=Path("reports"),
              show_default=True, help="folder that receives calibrate-<time>/")
def calibrate(plan: Path, faults: str, jobs: int | None, until_caught: bool,
              clean_runs: int | None, clean_run_dirs: tuple[Path, ...], evidence: str,
              reports: Path) -> None:
    """Run PLAN on the sandbox once clean and against every seeded fault; print and write
    the detection matrix. Exit 1 when a fault goes uncaught or the clean run fails a case,
    4 when some runs could not run (a sandbox that did not start)."""
    import os as _os

    from crmqa.cli.calibrate import (
        CalibrationIncomplete,
        check_plan,
        new_out_dir,
        to_markdown,
        write_outputs,
    )
    from crmqa.cli.calibrate import (
        calibrate as run_calibration,
    )
    from crmqa.cli.calibrate_clean_run import reuse_clean_run
    from crmqa.cli.calibrate_pool import EnginePool
    from crmqa.sandbox.faults import BY_NAME, CATALOGUE, UnknownFault, parse_fault_list
    from crmqa.validation import prepare_run

    try:
        chosen = [BY_NAME[n] for n in parse_fault_list(faults)] if faults else list(CATALOGUE)
    except UnknownFault as error:
        raise click.BadParameter(str(error), param_hint="--faults") from None
    # The one validation a run gets (the environment's values come from each sandbox).
    environment = {**_os.environ, "CRMQA_SANDBOX_URL": "http://127.0.0.1:9",
                   "CRMQA_SANDBOX_PASSWORD": _os.environ.get("CRMQA_SANDBOX_PASSWORD",
                                                             "sandbox-pass")}
    loaded = prepare_run(plan, environment=environment).loaded
    target = check_plan(loaded, None)
    reused = [reuse_clean_run(loaded, run_dir) for run_dir in clean_run_dirs]
    if clean_runs is None:
        clean_runs = 0 if reused else 1
    if clean_runs == 0 and not reused:
        raise click.BadParameter("0 clean runs needs a run to reuse (--clean-run)",
                                 param_hint="--clean-runs")
    out_dir = new_out_dir(reports)
    jobs = jobs or min(4, _os.cpu_count() or 1)
    console.print(f"Calibrating [bold]{escape(loaded.plan.id)}[/] against {len(chosen)} seeded "
                  f"faults, {jobs} sandbox(es) at a time"
                  + (", each group until its faults are caught" if until_caught else "")
                  + " …")
    try:
        with EnginePool(loaded, target, out_dir, jobs, evidence=evidence) as pool:
            result = run_calibration(loaded, pool, faults=chosen, until_caught=until_caught,
                                     clean_runs=clean_runs, reused_clean=reused,
                                     progress=lambda line: console.print(f"  {escape(line)}"))
    except CalibrationIncomplete as error:
        console.print(f"[red]Calibration incomplete:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(error.exit_code)
    json_path, md_path = write_outputs(result, out_dir)
    console.print(to_markdown(result), markup=False, soft_wrap=True)
    console.print(f"Matrix: {escape(str(md_path))} and {escape(str(json_path))}",
                  soft_wrap=True)
    sys.exit(0 if result.ok else 1 if result.complete else 4)


def _add_subgroups() -> None:
    from crmqa.cli.campaign import campaign

    cli.add_command(campaign)


_add_subgroups()


def main() -> None:
    cli(prog_name="crmqa")


if __name__ == "__main__":
    main()
