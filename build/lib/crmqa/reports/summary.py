"""The test summary report a manager reads: summary.md and summary.html.

Both are built from one `Summary` (the numbers and lists), so the two never disagree. The HTML
page is self-contained (inline CSS, no JavaScript, no external files) and opens from disk;
every value in it comes through Jinja2's autoescaping, because case titles, messages and lead
names come from the CRM under test and may hold markup.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    select_autoescape,
)

from crmqa.core.results import CaseResult, Outcome, RunInfo, Waiver
from crmqa.core.tasks import split_task_check
from crmqa.gates import CATEGORY_ORDER, Verdict, waiver_active
from crmqa.ledger import Defect
from crmqa.plan.models import Plan
from crmqa.reports.allure_extras import public_url
from crmqa.reports.i18n import (
    N_,
    decision_word,
    gate_name,
    gate_result_word,
    gate_texts,
    reasons,
    state_word,
    translations,
    warnings,
    withheld_reason,
)
from crmqa.reports.markdown import markdown_cell

# Next to this module, so the package data pattern "*.j2" ships them in the wheel.
TEMPLATES = Path(__file__).parent
# Columns of the breakdown tables: the outcomes, with waived failures apart from the others.
COLUMNS: tuple[str, ...] = (
    "passed", "failed", "waived", "broken", "blocked", "skipped", "not_applicable",
)
COLUMN_TITLES = {
    "passed": N_("passed"), "failed": N_("failed"), "waived": N_("waived"),
    "broken": N_("broken"), "blocked": N_("blocked"), "skipped": N_("skipped"),
    "not_applicable": N_("n/a"),
}


@dataclass
class Breakdown:
    """Case counts per value of one attribute (category, module, severity)."""

    title: str
    rows: list[tuple[str, dict[str, int], int]]  # value, counts per column, total


@dataclass
class CaseLine:
    case_id: str
    title: str
    category: str
    module: str
    reason: str


@dataclass
class LeftoverLine:
    """A record the run created and could not delete."""

    case_id: str
    entity: str
    record_id: str
    reason: str


@dataclass
class Figure:
    """A picture a case asked to show in the summary (a load's charts): embedded in the HTML
    page (it opens from disk), linked from the Markdown one."""

    case_id: str
    title: str
    name: str
    link: str  # relative to the run folder when it is inside it
    data_uri: str  # "" when the file is gone


@dataclass
class UxLine:
    """One UX measurement against its budget: a task's metric, or feedback after a change."""

    case_id: str
    task: str
    measure: str
    budget: str
    measured: str
    ok: bool


@dataclass
class WaiverLine:
    case_id: str
    owner: str
    reason: str
    expires: str
    active: bool
    applied: bool  # a failure of this run was kept out of the gates by it


@dataclass
class EvidenceTable:
    """A small table a check attached as CSV text (a migration's per-field results, sample
    rows); the summary shows its first rows, the Allure report and the run folder all."""

    name: str
    header: list[str]
    rows: list[list[str]]
    more: int  # rows not shown


@dataclass
class CaseTables:
    case_id: str
    title: str
    outcome: str
    tables: list[EvidenceTable]


@dataclass
class Summary:
    """Everything the summary shows, in display order."""

    run_info: RunInfo
    verdict: Verdict
    base_url: str
    today: date
    totals: dict[str, int]
    breakdowns: list[Breakdown]
    failed: list[CaseLine] = field(default_factory=list)
    broken: list[CaseLine] = field(default_factory=list)
    blocked: list[CaseLine] = field(default_factory=list)
    not_applicable: list[CaseLine] = field(default_factory=list)
    waivers: list[WaiverLine] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)
    leftovers: list[LeftoverLine] = field(default_factory=list)
    tables: list[CaseTables] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    ux: list[UxLine] = field(default_factory=list)
    lang: str = "en"
    # case id -> its title in `lang` where the suite translated it (defects carry English)
    titles: dict[str, str] = field(default_factory=dict)

    def defect_waived(self, defect: Defect) -> bool:
        return waiver_active(defect.waiver, self.today)

    def defect_title(self, defect: Defect) -> str:
        return self.titles.get(defect.case_id, defect.title)


def _column(result: CaseResult, today: date) -> str:
    if result.outcome is Outcome.FAILED and waiver_active(result.waiver, today):
        return "waived"
    return result.outcome.value


def _breakdown(
    title: str,
    results: Sequence[CaseResult],
    key: Callable[[CaseResult], str],
    order: Iterable[str],
    today: date,
) -> Breakdown:
    by_value: dict[str, Counter[str]] = {}
    for result in results:
        by_value.setdefault(key(result), Counter())[_column(result, today)] += 1
    ranked = {value: index for index, value in enumerate(order)}
    values = sorted(by_value, key=lambda value: (ranked.get(value, len(ranked)), value))
    return Breakdown(
        title=title,
        rows=[
            (value, {c: by_value[value][c] for c in COLUMNS}, sum(by_value[value].values()))
            for value in values
        ],
    )


def title_in(result: CaseResult, lang: str) -> str:
    """The case's title in `lang` where its suite translated it, else as written."""
    return result.titles.get(lang) or result.title


def _lines(
    results: Sequence[CaseResult], outcome: Outcome, today: date, lang: str
) -> list[CaseLine]:
    return [
        CaseLine(r.case_id + _params_suffix(r), title_in(r, lang), r.category, r.module,
                 r.message)
        for r in results
        if r.outcome is outcome and _column(r, today) != "waived"
    ]


TABLE_ROWS = 20  # rows of an evidence table shown in the summary


def _tables(results: Sequence[CaseResult], lang: str) -> list[CaseTables]:
    """The CSV tables the cases' steps attached inline, case by case."""
    found = []
    for result in results:
        tables = []
        for step in result.steps:
            for attachment in step.attachments:
                if attachment.mime_type != "text/csv" or not attachment.text:
                    continue
                rows = list(csv.reader(io.StringIO(attachment.text)))
                if not rows:
                    continue
                body = rows[1:]
                tables.append(EvidenceTable(attachment.name, rows[0], body[:TABLE_ROWS],
                                            max(len(body) - TABLE_ROWS, 0)))
        if tables:
            found.append(CaseTables(result.case_id + _params_suffix(result), title_in(result, lang),
                                    result.outcome.value, tables))
    return found


def _params_suffix(result: CaseResult) -> str:
    if not result.params:
        return ""
    return " [" + ", ".join(f"{k}={v}" for k, v in result.params.items()) + "]"


def build_summary(
    run_info: RunInfo,
    results: Sequence[CaseResult],
    verdict: Verdict,
    defects: Sequence[Defect],
    plan: Plan,
    run_dir: Path | None = None,
    lang: str = "en",
) -> Summary:
    """Collect the numbers and lists of the summary from a concluded run.

    `run_dir` is where figure links start from (the run folder); images are embedded.
    `lang` is the report's language: its fixed words and the case titles a suite translated.
    """
    today = verdict.evaluated_on or date.today()
    severities = [level.name for level in plan.scales.severity]
    applied = {
        r.case_id for r in results if r.outcome is Outcome.FAILED and waiver_active(r.waiver, today)
    }
    totals = Counter(_column(r, today) for r in results)
    severity_rank = {name: index for index, name in enumerate(severities)}
    return Summary(
        run_info=run_info,
        verdict=verdict,
        base_url=public_url(run_info.base_url),
        today=today,
        totals={c: totals[c] for c in COLUMNS},
        breakdowns=[
            _breakdown(N_("By category"), results, lambda r: r.category, CATEGORY_ORDER,
                       today),
            _breakdown(N_("By module"), results, lambda r: r.module, (), today),
            _breakdown(N_("By severity"), results, lambda r: r.severity, severities, today),
        ],
        failed=_lines(results, Outcome.FAILED, today, lang),
        broken=_lines(results, Outcome.BROKEN, today, lang),
        blocked=_lines(results, Outcome.BLOCKED, today, lang),
        not_applicable=_lines(results, Outcome.NOT_APPLICABLE, today, lang),
        leftovers=[
            LeftoverLine(r.case_id + _params_suffix(r), left.entity, str(left.record_id),
                         left.reason)
            for r in results
            for left in r.leftovers
        ],
        tables=_tables(results, lang),
        figures=_figures(results, run_dir, lang),
        lang=lang,
        titles={r.case_id: r.titles[lang] for r in results if r.titles.get(lang)},
        ux=_ux_lines(results),
        waivers=[
            WaiverLine(
                case_id=w.case, owner=w.owner, reason=w.reason, expires=w.expires,
                active=waiver_active(
                    Waiver(case=w.case, owner=w.owner, reason=w.reason, expires=w.expires), today
                ), applied=w.case in applied,
            )
            for w in plan.waivers
        ],
        defects=sorted(
            defects,
            key=lambda d: (
                d.status.value != "open",
                severity_rank.get(d.severity, -1),
                d.id,
            ),
        ),
    )


def _figures(results: Sequence[CaseResult], run_dir: Path | None, lang: str) -> list[Figure]:
    """Every image attachment a case marked `show_in_summary`, in case order."""
    found = []
    for result in results:
        for step in result.steps:
            for attachment in step.attachments:
                if not (attachment.show_in_summary and attachment.path
                        and attachment.mime_type.startswith("image/")):
                    continue
                path = Path(attachment.path)
                link = str(path)
                if run_dir is not None:
                    with contextlib.suppress(ValueError):
                        link = str(path.resolve().relative_to(Path(run_dir).resolve()))
                data = ""
                if path.is_file():
                    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
                    data = f"data:{attachment.mime_type};base64,{encoded}"
                found.append(Figure(result.case_id + _params_suffix(result), title_in(result, lang),
                                    attachment.name, link, data))
    return found
def _ux_lines(results: Sequence[CaseResult]) -> list[UxLine]:
    """Every task metric (checks named by crmqa.core.tasks) and every feedback check of the
    ux cases, in run order: what the summary's UX section shows against the budgets."""
    lines: list[UxLine] = []
    for result in results:
        for step in result.steps:
            for check in step.checks:
                split = split_task_check(check.name)
                if split is not None:
                    task, measure = split
                elif result.category == "ux" and check.name.startswith(
                        ("expect_feedback", "expect_field_error")):
                    task, measure = "", check.name
                else:
                    continue
                lines.append(UxLine(
                    case_id=result.case_id + _params_suffix(result), task=task,
                    measure=measure, budget=shorten(check.expected, 120),
                    measured=shorten(check.actual, 160), ok=check.ok))
    return lines


# --------------------------------------------------------------------------- rendering


@cache
def _compiled_templates() -> BytecodeCache | None:
    """Jinja's cache of compiled templates in the user's temporary folder: compiling the
    report pages took longer than rendering them, at the end of every run."""
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no private temporary folder: compile every time
        return None


def template_environment(lang: str = "en") -> Environment:
    """The Jinja settings every report page shares: templates beside this module, HTML
    escaped, `short` to cut long messages, and the fixed words in `lang`: `_("...")` (new
    style: `_("%(n)s cases", n=x)` escapes the values), `N_` to mark a word shown later, and
    the verdict's words (`decision_text`, `reasons`, `warnings`, `withheld_reason`,
    `gate_name`, `gate` (a row's texts), `gate_result`, `state`)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
        bytecode_cache=_compiled_templates(),
    )
    environment.filters["short"] = shorten
    catalogue = translations(lang)
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        catalogue, newstyle=True
    )
    _ = catalogue.gettext
    environment.globals.update(
        N_=N_,
        lang=lang,
        decision_text=lambda verdict: decision_word(verdict, _),
        reasons=lambda verdict: reasons(verdict, _),
        gate_name=lambda name: gate_name(name, _),
        gate=lambda row: gate_texts(row, _),
        warnings=lambda verdict: warnings(verdict, _),
        withheld_reason=lambda withheld: withheld_reason(withheld, _),
        gate_result=lambda row: gate_result_word(row, _),
        state=lambda word: state_word(word, _),
    )
    return environment


def _environment(lang: str = "en") -> Environment:
    environment = template_environment(lang)
    environment.filters["md"] = markdown_cell
    environment.globals["COLUMNS"] = COLUMNS
    environment.globals["COLUMN_TITLES"] = COLUMN_TITLES
    return environment


MESSAGE_LIMIT = 300  # characters of a message shown in the summary; the Allure report has all


def shorten(value: object, limit: int = MESSAGE_LIMIT) -> str:
    """One line of at most `limit` characters, with an ellipsis when cut."""
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_markdown(summary: Summary) -> str:
    """summary.md: for a merge request, a wiki page or a terminal."""
    return _environment(summary.lang).get_template("summary.md.j2").render(s=summary)


def render_html(summary: Summary) -> str:
    """summary.html: one self-contained page, no JavaScript."""
    return _environment(summary.lang).get_template("summary.html.j2").render(s=summary)
