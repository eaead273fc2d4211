"""Manual cases: a person's result file is read at run time and counted like any other case."""

from __future__ import annotations

from pathlib import Path

from crmqa.core.results import Outcome
from crmqa.engine import Engine
from crmqa.plan.loader import load_plan

PLAN = """\
id: manual-plan
name: Manual checks
system: {name: Some CRM}
target: t
targets:
  t: {profile: sandbox, base_url: "http://127.0.0.1:9"}
manual_results: {file: manual.yaml}
cases:
  - {id: MAN-1, title: Printing a lead looks right, category: manual, instructions: Print it}
  - {id: MAN-2, title: The mobile layout is usable, category: manual, instructions: Use a phone}
  - {id: MAN-3, title: Keyboard-only entry works, category: manual, instructions: No mouse}
  - {id: MAN-4, title: Nobody tried this yet, category: manual, instructions: Try it}
"""

RESULTS = """\
results:
  MAN-1: {result: passed, tester: Ana, date: "2026-11-20"}
  MAN-2:
    {result: failed, tester: Bo, evidence: "https://tracker.example/BUG-7", notes: overlap}
  MAN-3: {result: blocked, tester: Cy, notes: no test keyboard}
"""


def test_manual_results_become_case_outcomes(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "manual.yaml").write_text(RESULTS)
    loaded = load_plan(tmp_path / "plan.yaml")
    engine = Engine(loaded, None, tmp_path / "run", "main")
    try:
        results = {c.case.id: engine.run_case(c) for c in loaded.cases}
    finally:
        engine.close()
    assert results["MAN-1"].outcome is Outcome.PASSED
    assert results["MAN-2"].outcome is Outcome.FAILED
    assert "Bo" in results["MAN-2"].message and "overlap" in results["MAN-2"].message
    assert results["MAN-2"].steps[0].attachments[0].text == "https://tracker.example/BUG-7"
    assert results["MAN-3"].outcome is Outcome.BLOCKED
    assert results["MAN-4"].outcome is Outcome.SKIPPED
    assert "no result recorded" in results["MAN-4"].message
