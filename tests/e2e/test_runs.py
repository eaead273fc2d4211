"""End to end: `crmqa run` / `pytest PLAN` against the real sandbox, verdicts and exit codes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interrupts import default_ctrl_c, signal_state

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_PLAN = ROOT / "plans" / "sandbox.yaml"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-runs")]


def crmqa(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crmqa", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )


def sandbox_env(sandbox) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"CRMQA_SANDBOX_URL": sandbox.base_url, "CRMQA_SANDBOX_PASSWORD": sandbox.password}


def run_dir_of(reports: Path) -> Path:
    (run,) = [p for p in reports.iterdir() if p.is_dir()]
    return run


def test_seeded_search_fault_rejects_and_fails_the_right_cases(
    sandbox_factory, tmp_path: Path
) -> None:
    faulty = sandbox_factory(["search_case_sensitive"])
    reports = tmp_path / "reports"
    done = crmqa(
        "run", str(SANDBOX_PLAN), "-k", "SEARCH", "--reports", str(reports), env=sandbox_env(faulty)
    )
    assert done.returncode == 1, done.stdout[-4000:]
    assert "REJECTED" in done.stdout
    run = run_dir_of(reports)
    with (run / "defects.csv").open(encoding="utf-8") as handle:
        failed_cases = {row["case"] for row in csv.DictReader(handle)}
    assert "LEAD-SEARCH-003" in failed_cases
    assert "LEAD-SEARCH-001" not in failed_cases  # exact-case search still works


def test_pytest_directly_collects_cases_by_id(sandbox, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(SANDBOX_PLAN),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--crmqa-reports",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **sandbox_env(sandbox)},
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "sandbox.yaml::LEAD-ADD-001" in done.stdout
    assert "sandbox.yaml::LEAD-ADD-002[0]" in done.stdout


def test_bad_plan_exits_3_with_positions(tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text(
        "id: x\nname: X\nsystem: {name: s}\ntarget: t\ntargets:\n"
        "  t: {profile: sandbox, base_url: http://127.0.0.1:9}\n"
        "gatez: {}\ncases:\n  - id: A\n    title: a\n    categroy: functional\n"
        "    steps: [{op: lead.get, with: {id: 1}}]\n"
    )
    done = crmqa("run", str(plan), "--reports", str(tmp_path / "reports"))
    assert done.returncode == 3
    assert f"{plan}:7:1" in done.stderr and "gates" in done.stderr
    assert f"{plan}:11:5" in done.stderr and "category" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_unreachable_target_exits_4_and_still_reports(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    done = crmqa(
        "run",
        str(SANDBOX_PLAN),
        "-k",
        "LEAD-ADD-001 or LEAD-VIEW",
        "--reports",
        str(reports),
        env={"CRMQA_SANDBOX_URL": "http://127.0.0.1:9", "CRMQA_SANDBOX_PASSWORD": "x"},
    )
    assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-2000:]
    run = run_dir_of(reports)
    assert (run / "summary.md").exists()
    assert "nvironment" in (run / "summary.md").read_text()


def test_validate_and_init_scaffold(tmp_path: Path) -> None:
    done = crmqa("init", str(tmp_path / "proj"))
    assert done.returncode == 0, done.stderr
    profile = tmp_path / "proj" / "profiles" / "my-crm.yaml"
    done = crmqa("validate", str(tmp_path / "proj" / "plan.yaml"), str(profile))
    assert done.returncode == 0, done.stdout + done.stderr
    profile.write_text(profile.read_text().replace("health_path:", "helth_path:"))
    done = crmqa("validate", str(profile))
    assert done.returncode == 3
    assert "did you mean 'health_path'" in done.stderr
    done = crmqa("validate", str(SANDBOX_PLAN))
    assert done.returncode == 0, done.stdout + done.stderr


def test_ctrl_c_cleans_up_and_still_reports(sandbox, tmp_path: Path) -> None:
    import signal
    import time

    from crmqa.sandbox.testing import SandboxClient

    admin = SandboxClient(sandbox)
    before = admin.get("/api/leads").json()["total"]
    reports = tmp_path / "reports"
    process = subprocess.Popen(
        [sys.executable, "-m", "crmqa", "run", str(SANDBOX_PLAN), "-k", "UI",
         "--reports", str(reports), "--run-id", "interrupted"],
        cwd=ROOT, env={**os.environ, **sandbox_env(sandbox)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_ctrl_c,
    )
    # Interrupt once a first UI case has finished: the browser is up and cases create leads.
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 180
    for line in process.stdout:
        seen.append(line)
        if line.lstrip().startswith(("✔", "✘")) or time.monotonic() > deadline:
            break
    time.sleep(1.5)
    state = f"{signal_state()}; {signal_state(process.pid)}"
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    output = "".join(seen) + rest
    assert process.returncode == 130, output[-3000:] + "\n" + state
    assert "not a verdict" in output
    assert (reports / "interrupted" / "summary.md").exists()
    verdict = json.loads((reports / "interrupted" / "verdict.json").read_text())
    assert verdict["decision"] is None and verdict["exit_code"] == 130
    withheld = verdict["withheld"]
    assert withheld["kind"] == "interrupted"
    assert 1 <= withheld["finished"] < withheld["planned"]
    assert 0 < len(withheld["not_run"]) <= withheld["planned"] - withheld["finished"]
    assert "NO VERDICT (interrupted)" in (reports / "interrupted" / "summary.md").read_text()
    assert admin.get("/api/leads").json()["total"] == before


def test_plain_pytest_with_xdist_writes_one_run_folder(sandbox, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(SANDBOX_PLAN), "-n", "2", "-q", "-k", "LEAD-ADD",
         "-p", "no:cacheprovider", "--crmqa-reports", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, **sandbox_env(sandbox)},
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout[-3000:]
    run = run_dir_of(tmp_path)
    assert sorted(p.name for p in (run / "results").glob("*.jsonl")) == [
        "cases-gw0.jsonl", "cases-gw1.jsonl"]
    assert (run / "verdict.json").exists()
