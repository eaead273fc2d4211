"""End to end: the whole sandbox plan once on a clean sandbox, and what rests on that run.

The clean run is the slowest thing crmqa's tests do (every case of plans/sandbox.yaml, UI and
load cases included), and two tests need one: the reports of an accepted run, and
calibration's baseline. It runs once here (`crmqa run`, as a user runs it, on a fresh sandbox
without faults, as calibration's own clean run would be) and `crmqa calibrate --clean-run`
reuses it, so CI proves every seeded fault is caught without running the whole plan twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crmqa.sandbox.faults import CATALOGUE
from crmqa.sandbox.testing import running_sandbox
from tests.e2e.test_runs import ROOT, SANDBOX_PLAN, crmqa, run_dir_of, sandbox_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("clean-plan")]


@dataclass(frozen=True)
class CleanRun:
    """`crmqa run plans/sandbox.yaml` on a fresh clean sandbox: its output and run folder."""

    done: subprocess.CompletedProcess[str]
    run: Path
    password: str


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanRun]:
    reports = tmp_path_factory.mktemp("clean-plan")
    with running_sandbox() as sandbox:
        done = crmqa("run", str(SANDBOX_PLAN), "-n", "2", "--reports", str(reports),
                     env=sandbox_env(sandbox))
        password = sandbox.password
    yield CleanRun(done, run_dir_of(reports), password)


def test_clean_sandbox_is_accepted_with_every_report(clean_run: CleanRun) -> None:
    done, run = clean_run.done, clean_run.run
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "ACCEPTED" in done.stdout
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["decision"] == "ACCEPTED"
    for name in ("summary.md", "summary.html", "defects.csv", "junit.xml", "run.json"):
        assert (run / name).exists(), name
    results = [p for p in (run / "allure-results").glob("*-result.json")
               if not json.loads(p.read_text())["fullName"].startswith("crmqa.verdict.")]
    assert len(results) >= 20
    labels = {label["name"] for label in json.loads(results[0].read_text())["labels"]}
    assert {"epic", "feature", "story", "severity", "parentSuite", "suite"} <= labels
    assert (run / "allure-results" / "environment.properties").exists()
    # both workers wrote results; one line per executed item
    lines = sum(len(p.read_text().splitlines()) for p in (run / "results").glob("*.jsonl"))
    assert lines == len(results)
    assert clean_run.password not in (run / "summary.md").read_text()
    # UX evidence reaches Allure: an axe table per screen, a screenshot per viewport
    attached = {a["name"]: a["type"] for path in results
                for a in _attachments(json.loads(path.read_text()))}
    assert attached["axe: lead_form"] == "text/csv"
    assert attached["screenshot: add a lead and find it again (phone 390x844)"] == "image/png"
    assert "## Usability: measured against the budgets" in (run / "summary.md").read_text()


def _attachments(node: dict) -> list[dict]:
    """Every attachment of an Allure result, its steps' included."""
    found = list(node.get("attachments", []))
    for step in node.get("steps", []):
        found += _attachments(step)
    return found


def test_calibrate_catches_every_seeded_fault_of_the_catalogue(clean_run: CleanRun,
                                                                tmp_path: Path) -> None:
    assert clean_run.done.returncode == 0, clean_run.done.stdout[-4000:]
    completed = subprocess.run(
        # --until-caught: what CI needs (every fault caught, no false failure) in the least
        # time; `crmqa calibrate` without it lists every case each fault fails. The clean
        # baseline is the run above (same plan, same crmqa, a sandbox without faults).
        [sys.executable, "-m", "crmqa.cli.main", "calibrate", str(SANDBOX_PLAN),
         "--until-caught", "--clean-run", str(clean_run.run), "--reports", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1500, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    matrices = sorted(tmp_path.glob("calibrate-*/calibration.json"))
    assert matrices, completed.stdout[-3000:] + completed.stderr[-3000:]
    matrix = json.loads(matrices[-1].read_text(encoding="utf-8"))
    missed = [f["name"] for f in matrix["faults"] if not f["caught"]]
    assert matrix["clean"]["failures"] == [], matrix["clean"]
    assert matrix["mode"] == "until_caught"
    (clean,) = matrix["clean"]["runs"]  # the reused run, and no clean run of its own
    assert clean["failures"] == [] and clean["reused"].startswith("clean (reused ")
    assert clean["cases"] == matrix["timing"]["clean_case_runs"] > 800
    assert [f["name"] for f in matrix["faults"] if f["status"] == "not run"] == []
    assert missed == [], completed.stdout[-4000:]
    assert len(matrix["faults"]) == len(CATALOGUE) >= 40
    assert completed.returncode == 0
    assert (matrices[-1].parent / "calibration.md").exists()
