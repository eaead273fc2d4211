"""What `crmqa run`, `crmqa demo` and `crmqa gates` do, kept apart from argument parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.console import Console
from rich.markup import escape

from crmqa.core.errors import CrmqaError, PlanError
from crmqa.plan.loader import load_plan
from crmqa.pytest_plugin.state import new_run_id


def pytest_arguments(
    plan: Path,
    *,
    target: str | None = None,
    keyword: str | None = None,
    marker: str | None = None,
    workers: int = 1,
    reports: Path = Path("reports"),
    run_id: str | None = None,
    build: str | None = None,
    evidence: str | None = None,
    headed: bool = False,
    viewport: str | None = None,
    browser_url: str | None = None,
    video: bool = False,
    trace: str | None = None,
    slow_mo: float | None = None,
    ui_timeout: float | None = None,
    lang: str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """The pytest command line `crmqa run` stands for (also handy to print for CI users).

    `crmqa run`'s short browser options become the plugin's `--crmqa-*` options.
    """
    args = [
        str(plan),
        "--crmqa-live",
        "--crmqa-reports", str(reports),
        "-p", "no:cacheprovider",
        "-p", "no:locust",
        "-p", "no:schemathesis",  # crmqa drives Schemathesis itself; its plugin only costs
        "-q", "--no-header", "--tb=no", "-rN",
        "-o", "console_output_style=classic",
        # crmqa imports Faker before pytest starts; its plugin cannot be rewritten then
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        # the plan's folder, not the caller's project, decides pytest's rootdir and ini
        "--rootdir", str(plan.resolve().parent),
        "-c", os.devnull,
    ]
    if target:
        args += ["--crmqa-target", target]
    if lang and lang != "en":
        args += ["--crmqa-lang", lang]
    if keyword:
        args += ["-k", keyword]
    if marker:
        args += ["-m", marker]
    if workers > 1:
        args += ["-n", str(workers), "--dist", "loadgroup"]
    if run_id:
        args += ["--crmqa-run-id", run_id]
    if build:
        args += ["--crmqa-build", build]
    if evidence:
        args += ["--crmqa-evidence", evidence]
    if headed:
        args.append("--crmqa-headed")
    if viewport:
        args += ["--crmqa-viewport", viewport]
    if browser_url:
        args += ["--crmqa-browser-url", browser_url]
    if video:
        args.append("--crmqa-video")
    if trace:
        args += ["--crmqa-trace", trace]
    if slow_mo is not None:
        args += ["--crmqa-slow-mo", f"{slow_mo:g}"]
    if ui_timeout is not None:
        args += ["--crmqa-ui-timeout", f"{ui_timeout:g}"]
    return args + list(extra or [])


def run_plan(
    plan: Path,
    *,
    console: Console,
    render_html: bool = False,
    documents: str | None = None,
    lang: str = "en",
    **options: object,
) -> int:
    """Validate the plan (exit 3 on problems), run it through pytest, report, return the code."""
    from crmqa.validation import prepare_run

    # A bad plan, profile, adapter or environment stops here, before anything runs.
    target = options.get("target")
    extra = [str(arg) for arg in options.get("extra") or []]  # type: ignore[attr-defined]
    listing = any(arg in ("--collect-only", "--co") for arg in extra)
    prepared = prepare_run(plan, target=str(target) if target else None,
                           environment=None if listing else os.environ)
    loaded = prepared.loaded
    console.print(
        f"[bold]{escape(loaded.plan.name)}[/] — {len(loaded.cases)} cases, "
        f"target [bold]{escape(prepared.target_name)}[/] (profile "
        f"{escape(prepared.profile.name)})",
        soft_wrap=True,
    )
    for note in prepared.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    reports = Path(str(options.get("reports") or "reports"))
    run_id = str(options.get("run_id") or "") or new_run_id()
    options["run_id"] = run_id
    code = int(pytest.main(pytest_arguments(plan, lang=lang, **options)))  # type: ignore[arg-type]
    run_dir = reports / run_id
    if not (run_dir / "verdict.json").exists():
        # pytest's own usage errors (a bad option value) exit 4, which crmqa keeps for the
        # environment: without a verdict written, they are what crmqa calls usage, 3.
        return PlanError.exit_code if code == pytest.ExitCode.USAGE_ERROR else code
    if code in (3, 130):
        return code
    if render_html:
        from crmqa.reports import render_allure_html

        try:
            index = render_allure_html(run_dir)
            console.print(f"Allure report:  [bold]{escape(str(index))}[/]", soft_wrap=True)
        except CrmqaError as error:
            console.print(f"[yellow]Allure HTML not rendered:[/] {error}")
    if documents:
        try:
            write_run_documents(run_dir, plan, pdf=documents == "pdf", console=console,
                                lang=lang)
        except CrmqaError as error:
            # the verdict stands: documents are a view of it, and can be written later
            console.print(f"[yellow]Documents not written:[/] {escape(str(error))} "
                          f"(try `crmqa documents {escape(str(run_dir))}`)", soft_wrap=True)
    console.print(
        f"Test summary:   [bold]{escape(str(run_dir / 'summary.html'))}[/] (and summary.md)",
        soft_wrap=True,
    )
    console.print(f"Run folder:     {escape(str(run_dir))}", soft_wrap=True)
    return code


def find_run_dir(reports: Path, run: str | None) -> Path:
    if run:
        candidate = Path(run)
        if candidate.is_dir():
            return candidate
        candidate = reports / run
        if candidate.is_dir():
            return candidate
        raise CrmqaError(f"no run folder {run!s} (looked in {reports}/)")
    runs = sorted(p for p in reports.glob("*") if (p / "run.json").exists())
    if not runs:
        raise CrmqaError(f"no runs under {reports}/ yet: run `crmqa run PLAN` first")
    return runs[-1]


def regate(run_dir: Path, plan_path: Path | None, console: Console) -> int:
    """Evaluate the gates again from a run folder, with the plan's current gates and waivers.

    The run is judged against its campaign's state before it; the campaign's current state
    changes only when it is the campaign's latest run.
    """
    from crmqa.conclude import conclude
    from crmqa.reports import read_results, render_verdict

    run_info, results = read_results(run_dir)
    plan_file = plan_path or Path(run_info.plan_file)
    if not plan_file.exists():
        raise CrmqaError(f"the plan {plan_file} is gone: give it with --plan")
    loaded = load_plan(plan_file)
    conclusion = conclude(
        run_dir, run_info, results, loaded, ledger_path=run_dir.parent / "ledger.sqlite"
    )
    render_verdict(console, conclusion.verdict, run_info.lang)
    if not conclusion.latest:
        console.print(
            f"Run {run_info.run_id} is not the latest run of campaign {conclusion.campaign}: "
            "it was re-evaluated against the state before it, and the campaign's current "
            "suspension state and open defects are unchanged."
        )
    return conclusion.exit_code


def write_run_documents(
    run_dir: Path, plan_path: Path | None, *, pdf: bool, console: Console,
    lang: str | None = None,
) -> list[Path]:
    """Write the documents of a concluded run (and their PDFs when asked) in `lang` (default:
    the run's language); print where."""
    from crmqa.reports.documents import documents_for_run, write_documents

    documents = documents_for_run(run_dir, plan_path)
    written = write_documents(documents, run_dir, lang or documents.run_info.lang)
    if pdf:
        from crmqa.reports.pdf import print_pdfs

        written += print_pdfs([path for path in written if path.suffix == ".html"])
    console.print(
        f"Documents:      [bold]{escape(str(run_dir / 'documents'))}[/] ({len(written)} files)",
        soft_wrap=True,
    )
    return written


def run_demo(
    plan: Path, *, faults: str, workers: int, render_html: bool, console: Console
) -> int:
    """Start the sandbox on a free loopback port, run the plan on it, stop the sandbox."""
    from crmqa.sandbox.testing import running_sandbox

    fault_names = [f.strip() for f in faults.split(",") if f.strip()]
    console.print(
        "Starting the sandbox CRM"
        + (f" with faults: {', '.join(fault_names)}" if fault_names else " (clean)")
        + " …"
    )
    with running_sandbox(faults=fault_names) as sandbox:
        console.print(f"Sandbox listening at [bold]{sandbox.base_url}[/]")
        os.environ["CRMQA_SANDBOX_URL"] = sandbox.base_url
        os.environ["CRMQA_SANDBOX_PASSWORD"] = sandbox.password
        return run_plan(plan, console=console, render_html=render_html, workers=workers)
