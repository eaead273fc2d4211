"""A three-build acceptance campaign on the real sandbox, through `crmqa` itself.

Build 1.0 carries three seeded faults: three open defects are above the plan's suspension
bound (2), so testing is SUSPENDED. Build 1.1 fixes two: one open defect is down to the
resumption bound (1), testing resumes, and the build is REJECTED on that defect. Build 1.2 is
clean: ACCEPTED. Each build is a separate sandbox, as a vendor's builds are separate
deployments; the ledger, the campaign commands, the diff and the documents are checked on what
the three runs left behind. Build 1.2 is reported in Chinese (`--lang zh`), and build 1.1's
documents are written again in Russian: the case titles and step names come from the suite's
translations.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

from crmqa.cli.main import cli
from crmqa.cli.main import console as cli_console
from crmqa.ledger import Campaign, Ledger, Lifecycle, campaign_status
from crmqa.sandbox.testing import running_sandbox

PLAN = Path(__file__).parent / "campaign_plan.yaml"
EDIT, DELETE, SEARCH = "LEAD-EDIT-001", "LEAD-DEL-001", "LEAD-SEARCH-003"
BUILDS = [
    ("1.0", ["edit_drops_phone", "delete_leaves_listed", "search_case_sensitive"], 2),
    ("1.1", ["search_case_sensitive"], 1),
    ("1.2", [], 0),
]

pytestmark = [pytest.mark.slow]


def crmqa(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def test_three_builds_suspended_then_rejected_then_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    monkeypatch.setenv("COLUMNS", "200")
    # the CLI's console took its width when first imported: wide enough for every column
    monkeypatch.setattr(cli_console, "width", 200)
    started = time.monotonic()
    for number, (build, faults, exit_code) in enumerate(BUILDS, start=1):
        with running_sandbox(faults=faults) as sandbox:
            monkeypatch.setenv("CRMQA_SANDBOX_URL", sandbox.base_url)
            monkeypatch.setenv("CRMQA_SANDBOX_PASSWORD", sandbox.password)
            done = crmqa("run", PLAN, "--reports", reports, "--build", build,
                         "--run-id", f"b{number}",
                         *(["--documents", "pdf"] if number == 2 else []),
                         *(["--lang", "zh"] if number == 3 else []))
        assert done.exit_code == exit_code, done.output[-3000:]
    assert "验收通过 (ACCEPTED)" in done.output and "所有门限均已通过" in done.output
    print(f"three builds ran in {time.monotonic() - started:.1f} s")

    decisions = [json.loads((reports / f"b{n}" / "verdict.json").read_text())["decision"]
                 for n in (1, 2, 3)]
    assert decisions == ["SUSPENDED", "REJECTED", "ACCEPTED"]

    # the ledger: every run with its build and decision, suspension then resumption
    ledger = Ledger(reports / "ledger.sqlite")
    campaign = Campaign("campaign-demo", "sandbox")
    assert ledger.campaigns() == [campaign]
    after_2 = campaign_status(ledger, campaign, _today(), as_of_run="b2")
    states = {story.case_id: story for story in after_2.defects}
    assert {k: s.state for k, s in states.items()} == {
        EDIT: Lifecycle.FIXED, DELETE: Lifecycle.FIXED, SEARCH: Lifecycle.OPEN}
    assert states[EDIT].fixed_in_build == "1.1" and states[EDIT].first_seen_build == "1.0"
    assert states[SEARCH].last_seen_build == "1.1"
    after_1 = campaign_status(ledger, campaign, _today(), as_of_run="b1")
    assert {s.state for s in after_1.defects} == {Lifecycle.NEW}
    assert after_1.suspended and not after_2.suspended

    # `crmqa campaign history --json`: the same story, from the command line
    done = crmqa("campaign", "history", "--reports", reports, "--json")
    assert done.exit_code == 0, done.output
    history = json.loads(done.output)
    assert [(c["system_version"], c["decision"], c["suspension"]) for c in history["cycles"]] \
        == [("1.0", "SUSPENDED", "suspended"), ("1.1", "REJECTED", "resumed"),
            ("1.2", "ACCEPTED", "")]
    assert {d["case"]: (d["state"], d["first_seen_build"], d["fixed_in_build"])
            for d in history["defects"]} == {
        EDIT: ("fixed", "1.0", "1.1"), DELETE: ("fixed", "1.0", "1.1"),
        SEARCH: ("fixed", "1.0", "1.2")}
    assert len({d["fingerprint"] for d in history["defects"]}) == 3
    done = crmqa("campaign", "status", "--reports", reports, "--lang", "en")
    assert done.exit_code == 0 and "ACCEPTED on build 1.2" in done.output, done.output
    # without --lang: the language of the campaign's latest run (build 1.2, in Chinese)
    done = crmqa("campaign", "status", "--reports", reports)
    assert done.exit_code == 0 and "最新结论 验收通过" in done.output, done.output
    assert "被测版本：1.0, 1.1, 1.2" in done.output and "latest verdict" not in done.output
    done = crmqa("campaign", "history", "--reports", reports, "--lang", "ru")
    assert done.exit_code == 0 and "циклы" in done.output, done.output
    assert "ПРИОСТАНОВЛЕНО" in done.output and "возобновлено" in done.output

    # the diff between two runs, and between two builds
    done = crmqa("campaign", "diff", "b1", "b2", "--reports", reports, "--json")
    diff = json.loads(done.output)
    assert {c["case"] for c in diff["fixed"]} == {EDIT, DELETE}
    assert [c["case"] for c in diff["still_failing"]] == [SEARCH]
    assert diff["new_failures"] == []
    done = crmqa("campaign", "diff", "1.1", "1.2", "--builds", "--reports", reports, "--json")
    assert [c["case"] for c in json.loads(done.output)["fixed"]] == [SEARCH]

    # the documents of build 1.1, written by `crmqa run --documents pdf`
    folder = reports / "b2" / "documents"
    summary = (folder / "test-summary.html").read_text()
    assert "REJECTED" in summary and "Customer acceptance owner" in summary
    assert "testing resumed" in summary and "testing suspended" in summary
    assert "<script" not in summary
    plan_page = (folder / "test-plan.html").read_text()
    assert "Suspend when more than 2 defects are open; resume once they are down to 1" \
        in plan_page
    assert "must pass: LEAD-ADD-001" in plan_page
    defects = (folder / "defect-report.html").read_text()
    assert states[SEARCH].fingerprint in defects and "Steps to reproduce" in defects
    assert "search in lower case" in defects  # the failed step, with its evidence below
    trace = (folder / "traceability.html").read_text()
    assert "REQ-LEAD-ADD" in trace and "failing" in trace
    rows = list(csv.DictReader(io.StringIO((folder / "test-cases.csv").read_text())))
    assert {row["ID"] for row in rows} == {"LEAD-ADD-001", "LEAD-VIEW-001", EDIT, DELETE,
                                           "LEAD-SEARCH-001", SEARCH}
    assert all(row["Expected result"] for row in rows)
    for name in ("test-plan", "test-cases", "defect-report", "test-summary", "traceability"):
        assert (folder / f"{name}.pdf").read_bytes()[:5] == b"%PDF-", name

    sheet = openpyxl.load_workbook(folder / "test-cases.xlsx")["Test cases"]
    assert [[cell or "" for cell in row] for row in sheet.iter_rows(min_row=2, values_only=True)] \
        == [list(row.values()) for row in rows]

    # documents of another run, written later by `crmqa documents`: in the run's language
    done = crmqa("documents", "b3", "--reports", reports)
    assert done.exit_code == 0, done.output
    accepted = (reports / "b3" / "documents" / "test-summary.html").read_text()
    assert "验收通过 (ACCEPTED)" in accepted and "测试完成报告" in accepted
    zh_summary = (reports / "b3" / "summary.html").read_text()
    assert '<html lang="zh">' in zh_summary and "验收门限：实际与要求" in zh_summary
    assert json.loads((reports / "b3" / "run.json").read_text())["lang"] == "zh"
    titles = {result["name"] for path in (reports / "b3" / "allure-results").glob("*-result.json")
              for result in [json.loads(path.read_text())]}
    assert f"{SEARCH}: 搜索不区分大小写" in titles  # Allure's test title, from the suite
    assert "验收结论：验收通过 (ACCEPTED)" in titles  # the verdict's result
    results = [json.loads(path.read_text())
               for path in (reports / "b3" / "allure-results").glob("*-result.json")]
    search = next(r for r in results if r["name"].startswith(SEARCH))
    assert [s["name"] for s in search["steps"]][:2] == ["1. 准备: lead.create", "2. 用小写搜索"]
    verdict = next(r for r in results if r["name"].startswith("验收结论"))
    assert verdict["steps"] and not any("required" in s["name"] for s in verdict["steps"])
    assert any("通过 6，失败 0，中断 0" in s.get("statusDetails", {}).get("message", "")
               for s in verdict["steps"]), verdict["steps"]

    # build 1.1's documents again, in Russian: titles and step names as the suite gives them
    done = crmqa("documents", "b2", "--reports", reports, "--lang", "ru")
    assert done.exit_code == 0, done.output
    defects = (folder / "defect-report.html").read_text()
    assert "Поиск не зависит от регистра букв" in defects and "поиск строчными буквами" in defects
    assert "Шаги воспроизведения" in defects
    summary = (folder / "test-summary.html").read_text()  # the gates' words too
    assert "наивысшая серьёзность открытых дефектов: normal (открыто: 1) (требуется ничего " \
        "выше minor)" in summary, summary
    assert "(required" not in summary
    sheet = openpyxl.load_workbook(folder / "test-cases.xlsx")["Test cases"]
    titles = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert titles[SEARCH] == "Поиск не зависит от регистра букв"


def _today():  # type: ignore[no-untyped-def]
    from datetime import date

    return date.today()
