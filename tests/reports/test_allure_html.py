"""`crmqa report`: Allure 3 renders a real allure-pytest results folder into one HTML file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crmqa.gates import Decision, GateKind, GateResult, Verdict
from crmqa.reports import (
    ReportToolMissing,
    RunFolderError,
    read_single_file_report,
    render_allure_html,
    write_allure_extras,
)
from crmqa.reports.allure_html import campaign_history_path, find_allure_cli
from crmqa.reports.allure_quality_gate import config_module, quality_gate_rows
from crmqa.reports.allure_verdict import write_allure_verdict
from crmqa.reports.outputs import gates_page
from crmqa.reports.run_folder import GATES_PAGE
from tests.reports.conftest import SECRET, make_run_info

THROWAWAY_TESTS = textwrap.dedent('''
    import pytest

    class CaseBroken(Exception):
        pass

    def test_lead_is_created_with_valid_email():
        assert 1 + 1 == 2

    def test_search_when_crm_is_down():
        raise CaseBroken("Environment problem: connection refused by 127.0.0.1:9")

    def test_export_has_header_row():
        assert "first_name" == "last_name", "header row missing"

    def test_known_import_bug():
        pytest.xfail("waived until 2026-12-31: import drops the phone")
''')


def make_run_folder(tmp_path: Path) -> Path:
    """A run folder with real allure-pytest results, run.json and crmqa's Allure extras."""
    run_dir = tmp_path / "reports" / "r1"
    results_dir = run_dir / "allure-results"
    test_file = tmp_path / "throwaway" / "test_throwaway.py"
    test_file.parent.mkdir(parents=True)
    test_file.write_text(THROWAWAY_TESTS)
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(test_file), "-q", "--alluredir", str(results_dir),
            "--rootdir", str(test_file.parent), "-p", "no:crmqa", "-p", "no:locust",
            "-p", "no:cacheprovider", "-p", "no:xdist",
        ],
        capture_output=True, text=True, timeout=120, check=False, cwd=test_file.parent,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr  # one test fails
    assert len(list(results_dir.glob("*-result.json"))) == 4
    info = make_run_info("r1")
    (run_dir / "run.json").write_text(info.model_dump_json())
    write_allure_extras(results_dir, info)
    verdict = Verdict(decision=Decision.REJECTED, gate_results=[
        GateResult(name="pass rate: functional", kind=GateKind.PASS_RATE, required="≥ 95%",
                   actual="66.7% (2/3)", passed=False),
        GateResult(name="executed cases", kind=GateKind.MIN_EXECUTED, required="≥ 1",
                   actual="3", passed=True)])
    write_allure_verdict(results_dir, verdict, info)
    (run_dir / "verdict.json").write_text(verdict.model_dump_json())
    (run_dir / GATES_PAGE).write_text(gates_page(verdict, info))
    return run_dir


@pytest.mark.slow
@pytest.mark.skipif(find_allure_cli() is None, reason="npm tools not installed (scripts/setup.sh)")
def test_render_allure_html_offline_single_file(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path)
    index = render_allure_html(run_dir)
    assert index == run_dir / "allure-report" / "index.html"
    assert index.is_file()
    page = index.read_text(encoding="utf-8")
    assert "googletagmanager" not in page and "gtag(" not in page  # nothing calls out
    embedded = read_single_file_report(index)
    everything = "\n".join(embedded.values())
    for name in (
        "test_lead_is_created_with_valid_email", "test_search_when_crm_is_down",
        "test_export_has_header_row", "test_known_import_bug",
    ):
        assert name in everything
    # the acceptance verdict and its gates are in the report a manager opens
    assert "Acceptance verdict: REJECTED" in everything
    assert "pass rate: functional — 66.7% (2/3) (required ≥ 95%)" in everything
    categories = embedded["widgets/categories.json"]
    assert "Environment problems" in categories
    assert "Product defects" in categories
    assert "Waived defects" in categories
    environment = embedded["widgets/allure_environment.json"]
    assert "SandboxCRM" in environment
    assert SECRET not in page and SECRET not in everything
    # crmqa's gate rows are Allure's quality gates; the gate table a global attachment
    gates = {row["rule"]: row for row in
             json.loads(embedded["widgets/quality-gate.json"])["default"]}
    assert gates["pass rate: functional"]["success"] is False
    assert gates["pass rate: functional"]["expected"] == "≥ 95%"
    assert gates["executed cases"]["success"] is True
    assert "gates.html" in embedded["widgets/globals.json"]


def _fake_results_folder(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    (run_dir / "allure-results").mkdir(parents=True)
    (run_dir / "allure-results" / "x-result.json").write_text(json.dumps({"name": "t"}))
    (run_dir / "run.json").write_text(make_run_info("run").model_dump_json())
    return run_dir


def test_missing_allure_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _fake_results_folder(tmp_path)
    monkeypatch.setenv("CRMQA_ALLURE", str(tmp_path / "no" / "cli.js"))
    with pytest.raises(ReportToolMissing, match=r"Allure 3 is not installed.*scripts/setup\.sh"):
        render_allure_html(run_dir)


def test_missing_node_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _fake_results_folder(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ReportToolMissing, match=r"Node\.js \(`node`\) is not on PATH"):
        render_allure_html(run_dir)


def test_run_without_allure_results_is_a_clear_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(make_run_info("run").model_dump_json())
    with pytest.raises(RunFolderError, match="holds no Allure results"):
        render_allure_html(run_dir)
    with pytest.raises(RunFolderError, match="does not exist"):
        render_allure_html(tmp_path / "missing")


@pytest.mark.slow
@pytest.mark.skipif(find_allure_cli() is None, reason="npm tools not installed (scripts/setup.sh)")
def test_a_manager_sees_the_verdict_and_the_gates_in_allure_and_history_carries_over(
    tmp_path: Path,
) -> None:
    """Opened in headless Chromium, the report's title and its first suite say REJECTED, and
    the verdict's steps are the gates; a second render of the campaign keeps the first in its
    history file without copying anything by hand."""
    playwright_sync = pytest.importorskip("playwright.sync_api")
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"no Chromium at {chromium} (set CHROMIUM_PATH)")
    run_dir = make_run_folder(tmp_path)
    render_allure_html(run_dir)
    index = render_allure_html(run_dir)  # the campaign's second report
    history = campaign_history_path(run_dir, "acme-crm", "sandbox")
    assert len(history.read_text(encoding="utf-8").splitlines()) == 2

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(index.as_uri())
            page.get_by_text("Acceptance verdict: REJECTED").first.wait_for(timeout=30_000)
            assert "REJECTED" in page.title()
            page.get_by_text("Acceptance verdict: REJECTED").first.click()
            gate = page.get_by_text("pass rate: functional — 66.7% (2/3) (required ≥ 95%)")
            gate.first.wait_for(timeout=30_000)
            # the Quality Gates tab of the overview shows crmqa's gate rows
            page.goto(index.as_uri())
            page.get_by_role("button", name="Quality Gates").or_(
                page.get_by_text("Quality Gates")).first.click()
            page.get_by_text("pass rate: functional: 66.7% (2/3) (required ≥ 95%)").first \
                .wait_for(timeout=30_000)
            assert page.get_by_text("executed cases").first.is_visible()
        finally:
            browser.close()


def test_quality_gate_rows_are_crmqas_gate_rows_in_the_runs_language() -> None:
    """Allure judges nothing: each rule answers with the row crmqa's gates computed."""
    verdict = Verdict(decision=Decision.SUSPENDED, gate_results=[
        GateResult(name="open defects", kind=GateKind.SUSPENSION, required="≤ 2",
                   actual="3 open", passed=False),
        GateResult(name="share of top severity", kind=GateKind.SUSPENSION, required="≤ 50%",
                   actual="n/a", passed=True, applicable=False, detail="applies from 100"),
        GateResult(name="open defects", kind=GateKind.SUSPENSION, required="≤ 2",
                   actual="3 open", passed=False),
    ])
    rows = quality_gate_rows(verdict, "ru")
    assert [(r["rule"], r["success"], r["actual"], r["expected"]) for r in rows] == [
        ("открытые дефекты", False, "3 open", "≤ 2"),
        ("доля высшей серьёзности", True, "n/a", "≤ 50%"),
        ("открытые дефекты (2)", False, "3 open", "≤ 2"),  # Allure keys rules by name
    ]
    assert rows[0]["message"] == "открытые дефекты: 3 open (требуется ≤ 2)"
    assert rows[1]["message"].startswith("н/п — ") and rows[1]["message"].endswith(
        "\napplies from 100")
    module = config_module({"name": "x </script>"}, rows)
    assert module.rstrip().endswith("export default config;")
    assert json.dumps(rows, ensure_ascii=False, indent=2) in module
    assert "qualityGate" in module and "validate: async () =>" in module
