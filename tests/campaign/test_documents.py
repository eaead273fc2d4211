"""The documents from a plan and results: every case and step, escaping, traceability, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl

from crmqa.core.results import CaseResult, Outcome, RunInfo, StepResult
from crmqa.gates import Decision, Verdict
from crmqa.ledger import Campaign, Ledger, campaign_status
from crmqa.plan.loader import load_plan
from crmqa.reports.documents import (
    CASE_CSV_COLUMNS,
    DOCUMENTS,
    XLSX_SHEET,
    build_documents,
    cases_csv,
    render_document,
    write_documents,
)

PLAN = """\
id: docs
name: "Docs <b>plan</b>"
system: {name: Any CRM, version: "2.0", vendor: ACME}
target: t
targets:
  t: {profile: sandbox, base_url: "http://127.0.0.1:9"}
cases:
  - id: A-1
    title: "Create <script>alert(1)</script>"
    requirements: [REQ-1]
    steps:
      - name: create
        op: lead.create
        with: {data: {last_name: "=HYPERLINK(1)"}}
        expect: {outcome: ok}
      - request: {method: GET, path: /api/health}
        expect: {status: 200}
  - id: A-2
    title: Second
    requirements: [REQ-1, REQ-2]
    steps: [{request: {method: GET, path: /}}]
  - id: A-3
    title: Untraced
    steps: [{request: {method: GET, path: /x}}]
gates:
  must_pass: [A-1]
  suspension: {max_open_defects: 7, resume_at: 3}
"""


def test_documents_show_every_case_escaped_and_traced(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN)
    loaded = load_plan(plan_file)
    run_dir = tmp_path / "reports" / "r1"
    info = RunInfo(run_id="r1", plan_id="docs", plan_name="Docs", plan_file=str(plan_file),
                   system="Any CRM", system_version="2.0", target="t",
                   base_url="http://user:secret@127.0.0.1:9/?token=x",
                   started_at=datetime(2026, 11, 1, tzinfo=UTC))
    failed = CaseResult(
        plan_id="docs", case_id="A-1", title="Create <script>alert(1)</script>",
        category="functional", module="general", severity="normal", priority="medium",
        outcome=Outcome.FAILED, message="<img src=x onerror=alert(1)>",
        steps=[StepResult(number=1, name="create", kind="op", action="lead.create",
                          outcome=Outcome.FAILED, message="status 500")],
    )
    passed = failed.model_copy(update={"case_id": "A-2", "outcome": Outcome.PASSED,
                                       "message": "", "steps": []})
    ledger = Ledger(tmp_path / "reports" / "ledger.sqlite")
    ledger.record_run(info, [failed, passed])
    status = campaign_status(ledger, Campaign("docs", "t"), date(2026, 11, 1))
    verdict = Verdict(decision=Decision.REJECTED, executed=2, evaluated_on=date(2026, 11, 1),
                      reasons=["must pass: A-1: failed (required passed)"])

    documents = build_documents(run_dir, info, [failed, passed], verdict, loaded, status)
    written = write_documents(documents, run_dir)

    assert {p.name for p in written} == {*DOCUMENTS, "test-cases.csv", "test-cases.xlsx"}
    pages = {p.name: p.read_text() for p in written if p.suffix == ".html"}
    for name, page in pages.items():
        assert "<script" not in page and "<img" not in page, name
        assert "secret" not in page and "token=x" not in page, name
    assert "Create &lt;script&gt;" in pages["test-cases.html"]
    assert "op: lead.create" in pages["test-cases.html"]
    assert "status: 200" in pages["test-cases.html"]  # the expected result of step 2
    assert "Suspend when more than 7 defects are open; resume once they are down to 3" \
        in pages["test-plan.html"]
    assert "Generated data" in pages["test-data.html"] and "en_US" in pages["test-data.html"]
    assert "REJECTED" in pages["test-summary.html"]
    assert "Vendor representative" in pages["test-summary.html"]
    assert "Cases not run in this run, so not verified: A-3" in pages["test-summary.html"]
    assert status.defects[0].fingerprint in pages["defect-report.html"]
    assert "status 500" in pages["defect-report.html"]  # the failed step
    trace = documents.trace
    assert [(row.requirement, [c.case.id for c in row.cases], row.status) for row in trace] == [
        ("REQ-1", ["A-1", "A-2"], "failing"), ("REQ-2", ["A-2"], "passing"),
        ("(no requirement)", ["A-3"], "not fully verified")]

    rows = list(csv.DictReader(io.StringIO(cases_csv(documents))))
    assert [(r["ID"], r["Step"]) for r in rows] == [("A-1", "1"), ("A-1", "2"), ("A-2", "1"),
                                                     ("A-3", "1")]
    assert rows[0]["Action"] == "create: op: lead.create, with: {data: {last_name: =HYPERLINK(1)}}"
    assert rows[1]["Expected result"] == "status: 200"

    # the XLSX beside the CSV holds the same rows, every cell text (read back by openpyxl)
    workbook = openpyxl.load_workbook(run_dir / "documents" / "test-cases.xlsx")
    sheet = workbook[XLSX_SHEET]
    cells = [list(row) for row in sheet.iter_rows()]
    assert [c.value for c in cells[0]] == list(CASE_CSV_COLUMNS)
    assert [[c.value or "" for c in row] for row in cells[1:]] == [
        [r[name] for name in CASE_CSV_COLUMNS] for r in rows]
    assert {c.data_type for row in cells[1:] for c in row if c.value} == {"s"}
    assert sheet.freeze_panes == "A2"


def test_documents_in_chinese_keep_data_as_written(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN)
    info = RunInfo(run_id="r1", plan_id="docs", plan_name="Docs", plan_file=str(plan_file),
                   started_at=datetime(2026, 11, 1, tzinfo=UTC))
    verdict = Verdict(decision=Decision.SUSPENDED, evaluated_on=date(2026, 11, 1))
    documents = build_documents(tmp_path, info, [], verdict, load_plan(plan_file), None)

    page = render_document(documents, "test-summary.html", "zh")

    assert '<html lang="zh">' in page and "测试完成报告" in page and "暂停" in page
    assert "Create &lt;script&gt;" not in page  # not listed here; the plan's name is:
    assert "Docs &lt;b&gt;plan&lt;/b&gt;" in page
    assert "未完全验证" in render_document(documents, "traceability.html", "zh")
    assert "Матрица трассируемости" in render_document(documents, "traceability.html", "ru")
