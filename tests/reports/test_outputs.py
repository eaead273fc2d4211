"""The report files of a run: verdict.json, defects.csv, summary.md/.html, Allure extras."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from crmqa.core.results import CaseResult, CheckResult, Outcome, StepResult
from crmqa.core.tasks import split_task_check, task_check_name
from crmqa.gates import Decision
from crmqa.reports import (
    RunFolderError,
    allure_categories,
    public_url,
    read_results,
    render_verdict,
    write_run_outputs,
)
from crmqa.reports.allure_verdict import verdict_result_uuid
from crmqa.reports.summary import markdown_cell
from tests.reports.conftest import SECRET, XSS, Concluded, case, make_run_info


def write(c: Concluded) -> list[Path]:
    return write_run_outputs(c.run_dir, c.run_info, c.results, c.verdict, c.defects, c.plan)


def test_writes_every_file(concluded: Concluded) -> None:
    written = write(concluded)
    names = sorted(p.relative_to(concluded.run_dir).as_posix() for p in written)
    verdict_file = f"allure-results/{verdict_result_uuid(concluded.run_info.run_id)}-result.json"
    assert names == sorted([
        "allure-results/categories.json", "allure-results/environment.properties",
        "allure-results/executor.json", verdict_file, "defects.csv", "gates.html",
        "summary.html", "summary.md", "verdict.json",
    ])
    assert all(p.stat().st_size > 0 for p in written)
    assert not list(concluded.run_dir.glob(".*.tmp"))  # no temporary files left behind


def test_verdict_json(concluded: Concluded) -> None:
    write(concluded)
    data = json.loads((concluded.run_dir / "verdict.json").read_text())
    assert data["decision"] == "REJECTED" == concluded.verdict.decision.value
    assert data["exit_code"] == 1
    assert data["run_id"] == concluded.run_info.run_id
    assert data["counts"] == {
        "passed": 20, "failed": 3, "broken": 1, "blocked": 1, "skipped": 0, "not_applicable": 1,
    }
    assert data["waived"] == 1
    rows = {row["name"]: row for row in data["gate_results"]}
    assert rows["pass rate: functional"]["actual"] == "85.7% (18/21)"
    assert rows["pass rate: functional"]["passed"] is False
    assert rows["pass rate: security"]["actual"] == "100.0% (2/2)"
    assert rows["pass rate: ux"]["actual"] == "n/a"
    assert rows["must pass: AUTH-1"]["passed"] is True
    assert rows["highest open severity"]["actual"] == "critical (1 open)"


def test_defects_csv(concluded: Concluded) -> None:
    write(concluded)
    text = (concluded.run_dir / "defects.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "id", "case", "title", "severity", "priority", "status", "first_seen", "last_seen",
        "fixed_in", "message", "waived", "waiver_owner", "waiver_expires", "params",
    ]
    by_case = {row["case"]: row for row in rows}
    assert set(by_case) == {"L-XSS", "L-FORMULA", "L-WAIVED"}
    xss = by_case["L-XSS"]
    assert (xss["severity"], xss["priority"], xss["status"]) == ("critical", "high", "open")
    assert xss["first_seen"] == xss["last_seen"] == concluded.run_info.run_id
    assert xss["message"] == f"page showed {XSS} | raw"
    assert xss["waived"] == "no"
    waived = by_case["L-WAIVED"]
    assert (waived["waived"], waived["waiver_owner"], waived["waiver_expires"]) == (
        "yes", "Ana <qa lead>", "2026-12-31"
    )
    # a spreadsheet must not run text from the CRM as a formula
    assert by_case["L-FORMULA"]["title"].startswith("'=")
    assert by_case["L-FORMULA"]["message"].startswith("'+")
    # the most severe open defect comes first
    assert rows[0]["case"] == "L-XSS"


def test_summary_md_has_the_gate_table_and_lists(concluded: Concluded) -> None:
    write(concluded)
    md = (concluded.run_dir / "summary.md").read_text(encoding="utf-8")
    assert "## Verdict: **REJECTED** (exit code 1)" in md
    lines = md.splitlines()
    header = lines.index("| Gate | Required | Actual | Result | Detail |")
    assert lines[header + 1] == "|---|---|---|---|---|"
    gate_rows = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        gate_rows.append(line)
    assert len(gate_rows) == len(concluded.verdict.gate_results)
    functional = next(r for r in gate_rows if r.startswith("| pass rate: functional |"))
    assert "| ≥ 95% | 85.7% (18/21) | FAIL |" in functional
    assert any(r.startswith("| pass rate: ux |") and "| n/a |" in r for r in gate_rows)
    # every table row has the same number of cells as its header (pipes in data escaped)
    expected_pipes = None
    for line in lines:
        if not line.startswith("|"):
            expected_pipes = None
            continue
        pipes = len(re.findall(r"(?<!\\)\|", line))
        if expected_pipes is None:
            expected_pipes = pipes  # the header row of this table
        assert pipes == expected_pipes, line
    assert "page showed \\<script>alert('x')\\</script> \\| raw" in md
    assert "<script>" not in MarkdownIt("commonmark").enable("table").render(md)
    assert "## Blocked cases (1)" in md and "prerequisite L-XSS failed" in md
    assert "## Not applicable cases (1)" in md and "no screen lead_import" in md
    assert "| L-WAIVED | Ana \\<qa lead> | 2026-12-31 | active, applied in this run |" in md
    assert "| L-OLD | Bo | 2026-01-01 | expired |" in md
    assert "### By category" in md and "### By module" in md and "### By severity" in md
    assert "SEC-2 [role=viewer]" not in md  # passed cases are not listed one by one


def test_summary_html_is_escaped_self_contained_and_without_javascript(
    concluded: Concluded,
) -> None:
    write(concluded)
    page = (concluded.run_dir / "summary.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert html.escape(XSS, quote=True) in page or "&lt;script&gt;alert(&#39;x&#39;)" in page
    assert 'class="verdict REJECTED"' in page
    assert '<div class="decision">REJECTED</div>' in page
    assert "Ana &lt;qa lead&gt;" in page
    # nothing loaded from anywhere: no src/href attributes, no @import, no url(...)
    assert not re.search(r"\b(src|href)=", page)
    assert "@import" not in page and "url(" not in page
    # the gate table: one row per gate, actual vs required
    assert page.count("<td class=\"fail\">FAIL</td>") == len(concluded.verdict.failing())
    assert "<td>pass rate: functional</td><td>≥ 95%</td><td>85.7% (18/21)</td>" in page


def test_no_secret_in_any_report_file(concluded: Concluded) -> None:
    written = write(concluded)
    for path in written:
        assert SECRET not in path.read_text(encoding="utf-8"), path


def test_allure_environment_and_executor(concluded: Concluded) -> None:
    write(concluded)
    results_dir = concluded.run_dir / "allure-results"
    properties = dict(
        line.split("=", 1)
        for line in (results_dir / "environment.properties").read_text().splitlines()
    )
    assert properties["CRM"] == "SandboxCRM"
    assert properties["CRM.version"] == "1.4"
    assert properties["Base.URL"] == "http\\://127.0.0.1\\:8000/crm"
    assert properties["Profile"] == "sandbox"
    assert properties["Plan"] == "ACME CRM acceptance (acme-crm)"
    assert properties["Run.id"] == concluded.run_info.run_id
    executor = json.loads((results_dir / "executor.json").read_text())
    assert executor["buildName"] == concluded.run_info.run_id
    assert executor["name"] == "crmqa"


def test_the_verdict_is_an_allure_result_with_a_step_per_gate(concluded: Concluded) -> None:
    write(concluded)
    write(concluded)  # re-gating a run replaces its verdict, never adds a second one
    results = [json.loads(p.read_text(encoding="utf-8"))
               for p in (concluded.run_dir / "allure-results").glob("*-result.json")]
    (verdict,) = results
    assert concluded.verdict.decision == Decision.REJECTED
    assert verdict["name"] == "Acceptance verdict: REJECTED"
    assert verdict["status"] == "failed"
    labels = {label["name"]: label["value"] for label in verdict["labels"]}
    assert labels["parentSuite"] == "Acceptance verdict"
    gates = concluded.verdict.gate_results
    assert [step["name"].split(" — ")[0] for step in verdict["steps"]] == [g.name for g in gates]
    statuses = {step["name"].split(" — ")[0]: step["status"] for step in verdict["steps"]}
    for gate in gates:
        expected = "skipped" if not gate.applicable else "passed" if gate.passed else "failed"
        assert statuses[gate.name] == expected, gate.name
    failing = [g for g in gates if g.applicable and not g.passed]
    assert failing and all(g.name in verdict["statusDetails"]["message"] for g in failing)
    assert "| Gate | Required | Actual | Result | Detail |" in verdict["description"]
    assert "<table>" in verdict["descriptionHtml"] and "<script" not in verdict[
        "descriptionHtml"]


def test_environment_properties_escape_non_ascii(tmp_path: Path) -> None:
    from crmqa.reports import write_allure_extras

    info = make_run_info().model_copy(update={"system": "Ünïcode CRM = 1 ✓"})
    write_allure_extras(tmp_path, info)
    text = (tmp_path / "environment.properties").read_text(encoding="ascii")
    assert "CRM=\\u00dcn\\u00efcode CRM \\= 1 \\u2713" in text.splitlines()


@pytest.mark.parametrize(
    ("status", "message", "category"),
    [
        ("broken", "crmqa.pytest_plugin.items.CaseBroken: Environment problem: timeout\nat x",
         "Environment problems"),
        ("broken", "Environment problem: refused", "Environment problems"),
        ("broken", "CaseBroken: Test defect: saved.lead_id is undefined", "Test defects"),
        ("broken", "CaseBroken: crmqa error: KeyError", "crmqa errors"),
        ("broken", "ValueError: something odd", "Other broken cases"),
        ("failed", "CaseFailed: status 500 != 201", "Product defects"),
        ("skipped", "XFAIL waived until 2026-12-31: boom\n\n_pytest...", "Waived defects"),
        ("skipped", "Skipped: Blocked: L-1 failed", "Blocked cases"),
        ("skipped", "Skipped: Not applicable: no import screen", "Not applicable"),
    ],
)
def test_categories_match_like_allure_2_and_3(status: str, message: str, category: str) -> None:
    def first_match(search: bool) -> str | None:
        for rule in allure_categories():
            if status not in rule["matchedStatuses"]:
                continue
            regex = rule.get("messageRegex")
            if regex is None:
                return rule["name"]
            # Allure 3 (JavaScript) searches; Allure 2 (Java) matches the whole message
            found = re.search(regex, message) if search else re.fullmatch(regex, message)
            if found:
                return rule["name"]
        return None

    assert first_match(search=True) == category
    assert first_match(search=False) == category


def test_public_url_drops_credentials_query_and_fragment() -> None:
    assert public_url("https://u:p@crm.example:8443/app/?token=x#frag") == (
        "https://crm.example:8443/app/"
    )
    assert public_url("http://[::1]:8000/x") == "http://[::1]:8000/x"
    assert public_url("") == ""


def test_markdown_cell_escaping() -> None:
    """Only what could start Markdown is escaped (tests/reports/test_markdown_text.py)."""
    assert markdown_cell("a | b\nc -> d") == "a \\| b c -> d"
    assert markdown_cell("<b>x</b> & *y* _z_ [l](u)") == (
        "\\<b>x\\</b> & \\*y\\* \\_z\\_ \\[l](u)"
    )
    assert markdown_cell(None) == ""


# --------------------------------------------------------------------------- reading back


def _write_results(run_dir: Path, by_worker: dict[str, list[CaseResult]]) -> None:
    (run_dir / "results").mkdir(parents=True, exist_ok=True)
    for worker, results in by_worker.items():
        lines = [r.model_dump_json() for r in results]
        (run_dir / "results" / f"{worker}.jsonl").write_text("\n".join(lines) + "\n\n")


def test_read_results_round_trip(concluded: Concluded) -> None:
    run_dir = concluded.run_dir
    (run_dir / "run.json").write_text(concluded.run_info.model_dump_json())
    half = len(concluded.results) // 2
    _write_results(run_dir, {"gw0": concluded.results[:half], "gw1": concluded.results[half:]})
    info, results = read_results(run_dir)
    assert info == concluded.run_info
    assert results == concluded.results


def test_read_results_reports_file_and_line_of_a_bad_record(concluded: Concluded) -> None:
    run_dir = concluded.run_dir
    (run_dir / "run.json").write_text(concluded.run_info.model_dump_json())
    _write_results(run_dir, {"gw0": concluded.results[:2]})
    with (run_dir / "results" / "gw0.jsonl").open("a") as stream:
        stream.write('{"case_id": "X"}\n')
    with pytest.raises(RunFolderError, match=r"gw0\.jsonl:4: not a case result"):
        read_results(run_dir)


def test_read_results_of_a_missing_or_foreign_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="does not exist"):
        read_results(tmp_path / "nope")
    with pytest.raises(RunFolderError, match=r"has no run\.json"):
        read_results(tmp_path)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(RunFolderError, match="not a crmqa run record"):
        read_results(tmp_path)


# --------------------------------------------------------------------------- console


def test_render_verdict_shows_decision_and_gate_table(concluded: Concluded) -> None:
    console = Console(record=True, width=160, color_system=None)
    render_verdict(console, concluded.verdict)
    text = console.export_text()
    assert "REJECTED" in text and "exit code 1" in text
    assert "Gates: actual vs required" in text
    assert "pass rate: functional" in text and "85.7% (18/21)" in text
    assert "FAIL" in text and "PASS" in text and "n/a" in text
    assert "1 case(s) broken" in text


def test_render_verdict_does_not_read_markup_from_data(concluded: Concluded) -> None:
    verdict = concluded.verdict.model_copy(deep=True)
    row = verdict.gate_results[0]
    row.detail = "[bold red]not markup[/bold red] [link=x]"
    assert row.words is not None  # the console shows the row's words, as data here
    row.words = row.words.model_copy(update={"detail": row.detail})
    console = Console(record=True, width=200, color_system=None)
    render_verdict(console, verdict)
    assert "[bold red]not markup[/bold red] [link=x]" in console.export_text()


def test_accepted_verdict_renders_all_gates_passed() -> None:
    from datetime import date

    from crmqa.gates import evaluate
    from crmqa.plan.models import Gates, Scales
    from tests.reports.conftest import case

    verdict = evaluate([case("A", "passed")], Gates(), Scales(), [], date(2026, 11, 23))
    assert verdict.decision is Decision.ACCEPTED
    console = Console(record=True, width=120, color_system=None)
    render_verdict(console, verdict)
    assert "all gates passed" in console.export_text()


def test_long_messages_are_shortened_in_the_summary(concluded: Concluded) -> None:
    long_message = "status 500: " + "x" * 5000
    concluded.results[-4] = concluded.results[-4].model_copy(update={"message": long_message})
    write(concluded)
    for name in ("summary.md", "summary.html"):
        text = (concluded.run_dir / name).read_text(encoding="utf-8")
        assert "status 500: xxx" in text and "x" * 400 not in text and "…" in text


def test_evidence_tables_are_shown_in_summary_html(concluded: Concluded) -> None:
    # a migration check's results (per field, with its rate) and its first differing rows
    results_table = ("check,allowed,found,result\nlead.email,none,0 of 3 (0.00%),ok\n"
                     "lead.status,none,1 of 3 (33.33%),FAILED\n")
    sample = "key,legacy_key,expected,migrated\n" + "".join(
        f"k{n}@x.test,{n},contacted,<b>new</b>\n" for n in range(25))
    steps = [{"number": 1, "kind": "migrate", "name": "migrate fields lead",
              "outcome": "failed", "attachments": [
                  {"name": "fields lead: results", "mime_type": "text/csv",
                   "text": results_table},
                  {"name": "sample: lead.status", "mime_type": "text/csv", "text": sample},
                  {"name": "all rows", "mime_type": "text/csv", "path": "migration/x.csv"}]}]
    concluded.results.append(case("MIG-FIELDS-001", "failed", category="migration",
                                  steps=steps, message="lead.status: 1 of 3 differ"))
    write(concluded)
    page = (concluded.run_dir / "summary.html").read_text(encoding="utf-8")
    tables = page[page.index("<h2>Evidence tables</h2>"):page.index("<h2>Left behind")]
    assert "<h3>MIG-FIELDS-001" in tables and "<caption>fields lead: results</caption>" in tables
    assert ('<td>lead.status</td><td>none</td><td>1 of 3 (33.33%)</td>'
            '<td class="fail">FAILED</td>') in tables
    assert "<td>k19@x.test</td>" in tables and "k20@x.test" not in tables  # 20 rows shown
    assert "5 more rows" in tables and "&lt;b&gt;new&lt;/b&gt;" in tables  # escaped


def test_summary_shows_each_ux_task_metric_against_its_budget(concluded: Concluded) -> None:
    checks = [
        CheckResult(name=task_check_name("add a lead", "clicks"), ok=True, expected="at most 6",
                    actual=5),
        CheckResult(name=task_check_name("add a lead (phone 390x844)",
                                         "no horizontal scroll on lead_detail"),
                    ok=False, expected="page width at most 390px", actual="576px"),
        CheckResult(name="expect_feedback after click lead_form.save", ok=False,
                    expected="a message in a live region within 2 s",
                    actual=f"'{XSS}' in status after 2.9 s"),
        CheckResult(name="status", ok=True, expected=200, actual=200),
    ]
    step = StepResult(number=1, name="task_end", kind="ui", outcome=Outcome.FAILED,
                      checks=checks)
    concluded.results.append(case("UX-1", "failed", category="ux", steps=[step],
                                  params={"viewport": "phone"}))
    write(concluded)
    md = (concluded.run_dir / "summary.md").read_text(encoding="utf-8")
    assert "## Usability: measured against the budgets" in md
    assert "| UX-1 [viewport=phone] | add a lead | clicks | at most 6 | 5 | within |" in md
    assert ("| add a lead (phone 390x844) | no horizontal scroll on lead_detail | "
            "page width at most 390px | 576px | **OVER** |") in md
    assert "expect_feedback after click lead_form.save" in md and "| status |" not in md
    html = (concluded.run_dir / "summary.html").read_text(encoding="utf-8")
    assert "Usability: measured against the budgets" in html and XSS not in html
    assert split_task_check("task a: b: c") == ("a: b", "c")
    assert split_task_check("status") is None
