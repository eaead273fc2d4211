"""`crmqa campaign` on a ledger with several campaigns: choosing one, and its errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmqa.cli.main import cli
from crmqa.cli.main import console as cli_console
from crmqa.core.results import CaseResult, Outcome, RunInfo
from crmqa.ledger import Ledger


def crmqa(*args: object) -> tuple[int, str]:
    done = CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "200"})
    return done.exit_code, done.output


def record(ledger: Ledger, run_id: str, target: str, failing: bool) -> None:
    info = RunInfo(run_id=run_id, plan_id="plan-a", plan_name="A", plan_file="a.yaml",
                   target=target, system_version="2.0",
                   started_at=datetime(2026, 11, 1, tzinfo=UTC))
    ledger.record_run(info, [CaseResult(
        plan_id="plan-a", case_id="C-1", title="one", category="functional", module="m",
        severity="critical", priority="high",
        outcome=Outcome.FAILED if failing else Outcome.PASSED, message="boom")])


def test_campaign_commands_choose_among_campaigns(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    code, output = crmqa("campaign", "status", "--reports", reports)
    assert code == 3 and "no ledger at" in output

    ledger = Ledger(reports / "ledger.sqlite")
    record(ledger, "a1", "vendor-a", failing=True)
    record(ledger, "b1", "vendor-b", failing=False)

    code, output = crmqa("campaign", "status", "--reports", reports)
    assert code == 3 and "2 campaigns fit" in output and "--target vendor-b" in output
    code, output = crmqa("campaign", "status", "--reports", reports, "--target", "vendor-c")
    assert code == 3 and "no campaign of plan (any) on target vendor-c" in output

    code, output = crmqa("campaign", "status", "--reports", reports, "--target", "vendor-a",
                         "--json")
    assert code == 0, output
    status = json.loads(output)
    assert [(d["case"], d["state"]) for d in status["defects"]] == [("C-1", "new")]
    code, output = crmqa("campaign", "list", "--reports", reports)
    assert code == 0 and "plan-a on vendor-a: 1 run(s)" in output
    code, output = crmqa("campaign", "diff", "2.0", "3.0", "--builds", "--reports", reports,
                         "--target", "vendor-a")
    assert code == 3 and "has no run of build '3.0'; builds: 2.0" in output


def test_campaign_views_speak_the_language_asked_or_the_latest_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the CLI's console took its width when first imported: wide enough for every column
    monkeypatch.setattr(cli_console, "width", 200)
    reports = tmp_path / "reports"
    ledger = Ledger(reports / "ledger.sqlite")
    record(ledger, "a1", "vendor-a", failing=True)
    args = ("--reports", reports, "--target", "vendor-a")

    code, output = crmqa("campaign", "status", *args, "--lang", "ru")
    assert code == 0, output
    assert "Кампания plan-a on vendor-a" in output and "тестирование идёт" in output
    assert "Тестируемые сборки: 2.0" in output and "Открытые дефекты" in output
    assert "Серьёзность" in output and "новый" in output
    assert "Builds under test" not in output and "Open defects" not in output
    code, output = crmqa("campaign", "history", *args, "--lang", "zh")
    assert code == 0 and "验收活动 plan-a on vendor-a：测试周期" in output, output
    code, output = crmqa("campaign", "status", *args, "--lang", "fr")
    assert code == 3 and "use one of en, zh, ru" in output

    # no run folder: English; the latest run's run.json says Chinese: Chinese
    code, output = crmqa("campaign", "status", *args)
    assert code == 0 and "Builds under test: 2.0" in output, output
    run_dir = reports / "a1"
    run_dir.mkdir()
    info = RunInfo(run_id="a1", plan_id="plan-a", plan_name="A", plan_file="a.yaml",
                   target="vendor-a", lang="zh", started_at=datetime(2026, 11, 1, tzinfo=UTC))
    (run_dir / "run.json").write_text(info.model_dump_json(), encoding="utf-8")
    code, output = crmqa("campaign", "status", *args)
    assert code == 0 and "被测版本：2.0" in output, output
    code, output = crmqa("campaign", "status", *args, "--lang", "en")
    assert code == 0 and "Builds under test: 2.0" in output, output
