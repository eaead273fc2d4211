"""`crmqa campaign status|history|diff|list`: a campaign (plan + target) across its runs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from crmqa.core.errors import CrmqaError

if TYPE_CHECKING:
    from crmqa.ledger import Campaign, Ledger

_reports_option = click.option(
    "--reports", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
    help="the folder holding the run folders and ledger.sqlite",
)
_plan_option = click.option(
    "--plan", "plan", help="the campaign's plan: its id or its file (default: the only one)"
)
_target_option = click.option("--target", "-t", help="the campaign's target name")
_json_option = click.option("--json", "as_json", is_flag=True, help="print JSON for tools")


def _language(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from crmqa.cli.main import _language as check_language_option

    return check_language_option(ctx, param, value)


_lang_option = click.option(
    "--lang", callback=_language,
    help="language of the view: en, zh or ru (default: the language of the campaign's latest "
    "run, else en); JSON stays English",
)


def _console() -> Console:
    from crmqa.cli.main import console

    return console


def _ledger(reports: Path) -> Ledger:
    from crmqa.ledger import Ledger

    path = reports / "ledger.sqlite"
    if not path.exists():
        raise CrmqaError(f"no ledger at {path}: run `crmqa run PLAN --reports {reports}` first")
    return Ledger(path)


def campaign_language(reports: Path, ledger: Ledger, chosen: Campaign, lang: str | None) -> str:
    """`lang` when given, else the language the campaign's latest run was reported in (its
    run.json, when its folder is still under `reports`), else English."""
    if lang:
        return lang
    from crmqa.core.languages import SOURCE_LANGUAGE

    runs = ledger.runs(chosen)
    return _run_language(reports / runs[-1].run_id) if runs else SOURCE_LANGUAGE


def _run_language(run_dir: Path) -> str:
    from crmqa.core.languages import SOURCE_LANGUAGE
    from crmqa.reports.run_folder import RunFolderError, read_run_info

    try:
        return read_run_info(run_dir).lang
    except (RunFolderError, OSError):  # a folder deleted or moved: the view is still wanted
        return SOURCE_LANGUAGE


def choose_campaign(ledger: Ledger, plan: str | None, target: str | None) -> Campaign:
    """The campaign the user names; the only one when the names leave one choice."""
    plan_id = plan
    if plan and Path(plan).is_file():
        from crmqa.plan.loader import load_plan

        plan_id = load_plan(Path(plan)).plan.id
    known = ledger.campaigns()
    fitting = [
        c for c in known
        if (plan_id is None or c.plan_id == plan_id) and (target is None or c.target == target)
    ]
    if len(fitting) == 1:
        return fitting[0]
    listed = "; ".join(f"--plan {c.plan_id} --target {c.target or repr('')}" for c in known)
    if not fitting:
        raise CrmqaError(
            f"no campaign of plan {plan_id or '(any)'} on target {target or '(any)'} in "
            f"{ledger.path}" + (f"; campaigns: {listed}" if listed else "")
        )
    raise CrmqaError(f"{len(fitting)} campaigns fit: name one of {listed}")


@click.group()
def campaign() -> None:
    """A campaign: one plan run against one target over the vendor's builds."""


@campaign.command("list")
@_reports_option
@click.option("--lang", callback=_language, default="en", show_default=True,
              help="language of the list: en, zh or ru")
def list_campaigns(reports: Path, lang: str) -> None:
    """Every campaign the ledger holds, with its runs and latest verdict."""
    from crmqa.reports.campaign_view import render_campaigns

    ledger = _ledger(reports)
    render_campaigns(_console(), [(known, ledger.runs(known)) for known in ledger.campaigns()],
                     lang)


@campaign.command()
@_reports_option
@_plan_option
@_target_option
@_json_option
@_lang_option
@click.option("--as-of", "as_of", help="tell the status as it was right after this run")
def status(reports: Path, plan: str | None, target: str | None, as_json: bool,
           lang: str | None, as_of: str | None) -> None:
    """Where the campaign stands: latest verdict, suspension, builds, open defects."""
    from crmqa.ledger import campaign_status
    from crmqa.reports.campaign_view import render_status, status_document

    ledger = _ledger(reports)
    chosen = choose_campaign(ledger, plan, target)
    state = campaign_status(ledger, chosen, _today(), as_of_run=as_of)
    if as_json:
        click.echo(json.dumps(status_document(state), indent=2, ensure_ascii=False))
    else:
        render_status(_console(), state, campaign_language(reports, ledger, chosen, lang))


@campaign.command()
@_reports_option
@_plan_option
@_target_option
@_json_option
@_lang_option
def history(reports: Path, plan: str | None, target: str | None, as_json: bool,
            lang: str | None) -> None:
    """Every cycle (run) with its build, verdict and suspension, and every defect's lifecycle."""
    from crmqa.ledger import campaign_status
    from crmqa.reports.campaign_view import render_history, status_document

    ledger = _ledger(reports)
    chosen = choose_campaign(ledger, plan, target)
    state = campaign_status(ledger, chosen, _today())
    if as_json:
        click.echo(json.dumps(status_document(state), indent=2, ensure_ascii=False))
    else:
        render_history(_console(), state, campaign_language(reports, ledger, chosen, lang))


@campaign.command()
@click.argument("run_a")
@click.argument("run_b")
@_reports_option
@_plan_option
@_target_option
@_json_option
@click.option("--lang", callback=_language,
              help="language of the view: en, zh or ru (default: RUN_B's language); JSON "
              "stays English")
@click.option("--builds", is_flag=True,
              help="RUN_A and RUN_B are builds: compare the latest run of each")
def diff(run_a: str, run_b: str, reports: Path, plan: str | None, target: str | None,
         as_json: bool, lang: str | None, builds: bool) -> None:
    """What changed from RUN_A to RUN_B: new failures, fixes, other changes, timings."""
    from crmqa.cli.running import find_run_dir
    from crmqa.ledger import Campaign
    from crmqa.reports import read_results
    from crmqa.reports.campaign_view import diff_document, render_diff
    from crmqa.reports.diff import diff_runs

    if builds:
        ledger = _ledger(reports)
        chosen = choose_campaign(ledger, plan, target)
        run_a, run_b = (_latest_of_build(ledger, chosen, build) for build in (run_a, run_b))
    dir_a, dir_b = find_run_dir(reports, run_a), find_run_dir(reports, run_b)
    info_a, results_a = read_results(dir_a)
    info_b, results_b = read_results(dir_b)
    if (info_a.plan_id, info_a.target) != (info_b.plan_id, info_b.target):
        _console().print(
            f"[yellow]note:[/] the runs belong to different campaigns "
            f"({escape(str(Campaign.of(info_a)))} and {escape(str(Campaign.of(info_b)))})",
            soft_wrap=True,
        )
    result = diff_runs(info_a.run_id, results_a, info_b.run_id, results_b)
    if as_json:
        click.echo(json.dumps(diff_document(result), indent=2, ensure_ascii=False))
    else:
        render_diff(_console(), result, lang or info_b.lang)


def _latest_of_build(ledger: Ledger, chosen: Campaign, build: str) -> str:
    runs = [run for run in ledger.runs(chosen) if run.system_version == build]
    if not runs:
        known = sorted({run.system_version for run in ledger.runs(chosen)})
        raise CrmqaError(
            f"campaign {chosen} has no run of build {build!r}; builds: {', '.join(known)}"
        )
    return runs[-1].run_id


def _today() -> date:
    return datetime.now(UTC).date()
