"""The documents a manager signs, written from the plan and a concluded run.

`write_documents` writes into `<run folder>/documents/`:

- test-plan.html: scope, test items, approach, entry and exit criteria (the gates),
  suspension and resumption criteria, environment, roles, deliverables;
- test-cases.html and test-cases.csv: the test case specification, every case with its steps
  and expected results (the CSV has one row per step, as test-management tools import it);
- test-data.html: the test data description (generated data, variables, files, field rules);
- defect-report.html: each defect of the campaign as of the run, with its lifecycle,
  reproduction steps, evidence links, severity and priority;
- test-summary.html: the test completion report in the shape of ISO/IEC/IEEE 29119-3, with a
  sign-off block;
- traceability.html: requirement -> cases -> results -> defects;
- and, when asked, each page printed to PDF by Chromium (crmqa.reports.pdf).

Every page is self-contained (inline CSS, no JavaScript, nothing fetched) and every value goes
through Jinja2's autoescaping: titles, messages and records come from the CRM under test.
The documents are built for any plan: nothing here knows a suite, a module or a CRM.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from crmqa.core.languages import check_language
from crmqa.core.results import CaseResult, Outcome, RunInfo
from crmqa.gates import CATEGORY_ORDER, Verdict, required_pass_rate
from crmqa.ledger import CampaignStatus, DefectStory, Lifecycle, params_hash
from crmqa.plan.loaded import LoadedPlan
from crmqa.plan.models import Case
from crmqa.reports.allure_extras import public_url
from crmqa.reports.i18n import N_
from crmqa.reports.summary import template_environment

TEMPLATES = Path(__file__).parent
DOCUMENTS_DIR = "documents"
CASE_CSV_COLUMNS = (
    "ID", "Title", "Category", "Module", "Severity", "Priority", "Requirements", "Tags",
    "Preconditions", "Step", "Action", "Expected result", "Description",
)
# file name -> (template, title); the order is the order of the deliverables list
DOCUMENTS: dict[str, tuple[str, str]] = {
    "test-plan.html": ("doc_test_plan.html.j2", N_("Test plan")),
    "test-cases.html": ("doc_test_cases.html.j2", N_("Test case specification")),
    "test-data.html": ("doc_test_data.html.j2", N_("Test data description")),
    "defect-report.html": ("doc_defects.html.j2", N_("Defect report")),
    "test-summary.html": ("doc_test_summary.html.j2", N_("Test completion report")),
    "traceability.html": ("doc_traceability.html.j2", N_("Traceability matrix")),
}
NO_REQUIREMENT = N_("(no requirement)")
# The documents' fixed words come from the reports' gettext catalogue (crmqa.reports.i18n);
# data from the plan and the CRM is shown as written, case titles and step names as the
# suite translated them (`Case.translations`).


@dataclass
class StepLine:
    """One step of a case as a person reads it: what to do and what must be seen."""

    number: int
    phase: str  # setup, step, teardown
    name: str
    action: str
    expected: str


@dataclass
class CaseSpec:
    """One case of the specification, with its results in the run (one per parameter set)."""

    case: Case
    suite: str
    steps: list[StepLine]
    results: list[CaseResult] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """The case's result in the run: failed if any variant failed, else the weightiest."""
        if not self.results:
            return "not run"
        outcomes = {r.outcome for r in self.results}
        for outcome in (Outcome.FAILED, Outcome.BROKEN, Outcome.BLOCKED, Outcome.PASSED,
                        Outcome.NOT_APPLICABLE, Outcome.SKIPPED):
            if outcome in outcomes:
                return outcome.value
        return "not run"


@dataclass
class TraceRow:
    requirement: str
    cases: list[CaseSpec]
    defects: list[DefectStory]

    @property
    def status(self) -> str:
        """covered and passing / failing / not fully run: the requirement's standing."""
        outcomes = {spec.outcome for spec in self.cases}
        if "failed" in outcomes:
            return "failing"
        if outcomes <= {"passed"}:
            return "passing"
        return "not fully verified"


@dataclass
class Evidence:
    """A piece of evidence of a failure: a file (linked) or a text kept inline (redacted)."""

    label: str
    link: str = ""  # relative to the documents folder
    text: str = ""


# characters of an inline evidence text shown in the defect report; the Allure report has all
EVIDENCE_LIMIT = 4000


@dataclass
class DefectEntry:
    """A defect of the defect report: its story, how to reproduce it, and the evidence."""

    story: DefectStory
    case: CaseSpec | None
    failed_steps: list[tuple[int, str, str, str]]  # number, name, action, message
    evidence: list[Evidence]


@dataclass
class DocumentSet:
    """Everything the documents show, built once so the pages never disagree."""

    run_info: RunInfo
    loaded: LoadedPlan
    verdict: Verdict
    results: list[CaseResult]
    cases: list[CaseSpec]
    status: CampaignStatus | None
    defects: list[DefectEntry]
    trace: list[TraceRow]
    today: date
    base_url: str
    documents: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(DOCUMENTS))

    @property
    def plan(self) -> Any:
        return self.loaded.plan

    @property
    def planned(self) -> int:
        """Planned case runs: a parametrised case runs once per parameter set."""
        return sum(max(1, len(spec.case.parameters)) for spec in self.cases)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome.value == outcome)

    def categories(self) -> list[tuple[str, int, float]]:
        """The categories in scope: name, number of cases, required pass rate."""
        counts = Counter(spec.case.category.value for spec in self.cases)
        ordered = [c for c in CATEGORY_ORDER if c in counts] + sorted(
            set(counts) - set(CATEGORY_ORDER))
        return [(c, counts[c], required_pass_rate(c, self.plan.gates.pass_rate))
                for c in ordered]

    def modules(self) -> list[tuple[str, int]]:
        counts = Counter(spec.case.module for spec in self.cases)
        return sorted(counts.items())

    def suites(self) -> list[tuple[str, int]]:
        counts = Counter(spec.suite for spec in self.cases)
        return sorted(counts.items())

    def title_of(self, case_id: str, written: str, lang: str) -> str:
        """A case's title in `lang` where its suite translated it (a defect keeps the title
        it was recorded with, in English)."""
        for spec in self.cases:
            if spec.case.id == case_id:
                return spec.case.title_in(lang) if lang != "en" else written
        return written

    def open_defects(self) -> list[DefectEntry]:
        return [d for d in self.defects if d.story.is_open]

    def lifecycle_counts(self) -> list[tuple[str, int]]:
        return [(state.value, sum(1 for d in self.defects if d.story.state is state))
                for state in Lifecycle]


# --------------------------------------------------------------------------- building


def _compact(value: Any) -> str:
    """A step's fields on one line, as YAML flow style (how the plan writer wrote them)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True,
                          width=10**6).strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return text


def describe_step(number: int, phase: str, step: BaseModel) -> StepLine:
    """Any step kind (registered by any driver) as action + expected result, from its model."""
    data = step.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude_none=True)
    name = str(data.pop("name", "") or "")
    expect = data.pop("expect", None)
    data.pop("save", None)
    wait = data.get("wait_until")
    if isinstance(wait, dict) and "success" in wait and expect is None:
        expect = {"until": wait.get("success")}
    return StepLine(
        number=number,
        phase=phase,
        name=name,
        action=_compact(data),
        expected=_compact(expect) if expect else "the step completes without error",
    )


def case_steps(case: Case) -> list[StepLine]:
    """The case's steps in run order (setup, steps, teardown), numbered as results number them."""
    lines: list[StepLine] = []
    for phase, steps in (("setup", case.setup), ("step", case.steps),
                         ("teardown", case.teardown)):
        for step in steps:
            lines.append(describe_step(len(lines) + 1, phase, step))
    if not lines and case.instructions:
        lines.append(StepLine(1, "manual", "", case.instructions.strip(), "as the case states"))
    return lines


def _evidence(result: CaseResult, run_dir: Path) -> list[Evidence]:
    found = []
    for step in result.steps:
        for attachment in step.attachments:
            label = f"step {step.number}: {attachment.name}"
            if attachment.path:
                path = Path(attachment.path)
                if not path.is_absolute():
                    path = run_dir / path
                found.append(Evidence(label, link=_relative(path, run_dir / DOCUMENTS_DIR)))
            elif attachment.text:
                text = attachment.text
                if len(text) > EVIDENCE_LIMIT:
                    text = text[:EVIDENCE_LIMIT] + "\n… (cut; the Allure report has it all)"
                found.append(Evidence(label, text=text))
    return found


def _relative(path: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(path, start)).as_posix()


def build_documents(
    run_dir: Path,
    run_info: RunInfo,
    results: Sequence[CaseResult],
    verdict: Verdict,
    loaded: LoadedPlan,
    status: CampaignStatus | None,
) -> DocumentSet:
    """Collect what the documents show. `status` is the campaign as of this run (or None)."""
    today = verdict.evaluated_on or date.today()
    by_case: dict[str, list[CaseResult]] = {}
    for result in results:
        by_case.setdefault(result.case_id, []).append(result)
    specs = [
        CaseSpec(
            case=loaded_case.case,
            suite=loaded_case.suite_id or loaded.plan.id,
            steps=case_steps(loaded_case.case),
            results=by_case.get(loaded_case.case.id, []),
        )
        for loaded_case in loaded.cases
    ]
    spec_of = {spec.case.id: spec for spec in specs}
    stories = status.defects if status else []
    entries = []
    for story in stories:
        spec = spec_of.get(story.case_id)
        failing = [
            r for r in by_case.get(story.case_id, [])
            if r.outcome is Outcome.FAILED and params_hash(r.params) == params_hash(story.params)
        ]
        failed_steps = [
            (step.number, step.name, step.action, step.message)
            for r in failing[:1] for step in r.steps if step.outcome is Outcome.FAILED
        ]
        evidence = [link for r in failing[:1] for link in _evidence(r, run_dir)]
        entries.append(DefectEntry(story, spec, failed_steps, evidence))
    severity_rank = {level.name: i for i, level in enumerate(loaded.plan.scales.severity)}
    entries.sort(key=lambda e: (not e.story.is_open, severity_rank.get(e.story.severity, -1),
                                e.story.case_id))
    requirements: dict[str, list[CaseSpec]] = {}
    for spec in specs:
        for requirement in spec.case.requirements or [NO_REQUIREMENT]:
            requirements.setdefault(requirement, []).append(spec)
    trace = [
        TraceRow(
            requirement,
            cases,
            [s for s in stories if s.case_id in {c.case.id for c in cases}],
        )
        for requirement, cases in sorted(
            requirements.items(), key=lambda item: (item[0] == NO_REQUIREMENT, item[0])
        )
    ]
    return DocumentSet(
        run_info=run_info,
        loaded=loaded,
        verdict=verdict,
        results=list(results),
        cases=specs,
        status=status,
        defects=entries,
        trace=trace,
        today=today,
        base_url=public_url(run_info.base_url),
    )


# --------------------------------------------------------------------------- writing


def render_document(documents: DocumentSet, name: str, lang: str = "en") -> str:
    """One document's HTML page (`name` is a key of `DOCUMENTS`), its fixed words in `lang`."""
    template, title = DOCUMENTS[name]
    check_language(lang)
    return template_environment(lang).get_template(template).render(
        d=documents, title=title, name=name, lang=lang
    )


def case_rows(documents: DocumentSet, lang: str = "en") -> Iterator[list[str]]:
    """The test case specification as rows of CASE_CSV_COLUMNS: one row per step, the case's
    fields repeated (how test-management tools import cases); titles and step names in
    `lang` where the suite translated them."""
    for spec in documents.cases:
        case = spec.case
        names = {line.name: case.step_name_in(line.name, lang) for line in spec.steps}

        def named(line: StepLine) -> str:
            return names.get(line.name, "") if line.name else ""

        preconditions = "; ".join(
            named(line) or line.action for line in spec.steps if line.phase == "setup"
        ) + ("; depends on " + ", ".join(case.depends_on) if case.depends_on else "")
        lines: list[StepLine | None] = [s for s in spec.steps if s.phase != "setup"]
        for line in lines or [None]:
            yield [
                case.id, case.title_in(lang), case.category.value, case.module, case.severity,
                case.priority, ", ".join(case.requirements), ", ".join(case.tags),
                preconditions.strip("; "),
                str(line.number) if line else "",
                (f"{named(line)}: {line.action}" if line.name else line.action) if line else "",
                line.expected if line else "",
                " ".join((case.description or "").split()),
            ]


def cases_csv(documents: DocumentSet, lang: str = "en") -> str:
    """test-cases.csv: the rows of `case_rows`, formula-like cells defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CASE_CSV_COLUMNS)
    for row in case_rows(documents, lang):
        writer.writerow([_spreadsheet_safe(cell) for cell in row])
    return buffer.getvalue()


XLSX_SHEET = "Test cases"


def write_cases_xlsx(documents: DocumentSet, path: Path, lang: str = "en") -> Path:
    """test-cases.xlsx: the rows of `case_rows` in one sheet (header frozen, filterable).

    Every cell is written as text: a value the CRM or the plan wrote as `=...` stays that
    text, never a formula, without the CSV's leading apostrophe.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = XLSX_SHEET
    sheet.append(list(CASE_CSV_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(name) for name in CASE_CSV_COLUMNS]
    for number, row in enumerate(case_rows(documents, lang), start=2):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row=number, column=column)
            cell.value = _xlsx_text(value)
            cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            widths[column - 1] = max(widths[column - 1], min(len(value), 60))
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=column).column_letter].width = width + 2
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    workbook.save(path)
    return path


# characters XML 1.0 (and so an .xlsx) cannot hold; CRM data may contain them
_XML_ILLEGAL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)], "\ufffd")


def _xlsx_text(value: str) -> str:
    return value.translate(_XML_ILLEGAL)


def _spreadsheet_safe(value: str) -> str:
    """Defuse a cell a spreadsheet would run as a formula."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def write_documents(documents: DocumentSet, run_dir: Path, lang: str = "en") -> list[Path]:
    """Write the HTML documents (fixed words in `lang`), test-cases.csv and test-cases.xlsx
    into `<run_dir>/documents/`."""
    folder = Path(run_dir) / DOCUMENTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DOCUMENTS:
        path = folder / name
        path.write_text(render_document(documents, name, lang), encoding="utf-8")
        written.append(path)
    path = folder / "test-cases.csv"
    path.write_text(cases_csv(documents, lang), encoding="utf-8")
    written.append(path)
    written.append(write_cases_xlsx(documents, folder / "test-cases.xlsx", lang))
    return written


def documents_for_run(run_dir: Path, plan_path: Path | None = None) -> DocumentSet:
    """Read a concluded run folder (results, verdict.json, the ledger next to it) and the plan.

    The plan is the one the run recorded unless `plan_path` names another; the campaign's
    history comes from `<reports>/ledger.sqlite`, the ledger the run was recorded in.
    """
    from crmqa.core.errors import CrmqaError
    from crmqa.ledger import Campaign, Ledger, LedgerError, campaign_status
    from crmqa.plan.loader import load_plan
    from crmqa.reports.run_folder import read_results

    run_dir = Path(run_dir)
    run_info, results = read_results(run_dir)
    verdict_file = run_dir / "verdict.json"
    if not verdict_file.is_file():
        raise CrmqaError(f"{run_dir} has no verdict.json: the run was not concluded")
    verdict = Verdict.model_validate_json(verdict_file.read_text(encoding="utf-8"))
    plan_file = plan_path or Path(run_info.plan_file)
    if not plan_file.exists():
        raise CrmqaError(f"the plan {plan_file} is gone: give it with --plan")
    loaded = load_plan(plan_file)
    status = None
    ledger_file = run_dir.parent / "ledger.sqlite"
    if ledger_file.exists():
        try:
            status = campaign_status(
                Ledger(ledger_file), Campaign.of(run_info),
                verdict.evaluated_on or date.today(), as_of_run=run_info.run_id,
            )
        except LedgerError:
            status = None  # the run was never recorded there: documents without history
    return build_documents(run_dir, run_info, results, verdict, loaded, status)
