"""`crmqa expand`: the generated cases as YAML (valid, the same ids a run collects) or a table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from crmqa.plan.loader import load_plan
from crmqa.plan.models import Case

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "plans" / "sandbox.yaml"


def crmqa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crmqa", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300, check=False)


def test_yaml_holds_the_generated_cases_a_run_collects() -> None:
    done = crmqa("expand", str(PLAN), "-g", "workflows", "-g", "decisions")
    assert done.returncode == 0, done.stderr
    cases = yaml.safe_load(done.stdout)["cases"]
    loaded = [c.case for c in load_plan(PLAN).cases if c.generator in ("workflows", "decisions")]
    assert [c["id"] for c in cases] == [c.id for c in loaded]
    for raw, model in zip(cases, loaded, strict=True):
        assert Case.model_validate(raw) == model  # the printed case is the case that runs
    assert list(cases[0]["steps"][0])[:2] == ["name", "op"]  # written order: what, then expect


def test_list_prints_a_table_of_every_generated_case() -> None:
    done = crmqa("expand", str(PLAN), "--list")
    assert done.returncode == 0, done.stderr
    generated = [c.case.id for c in load_plan(PLAN).cases if c.generator]
    assert f"{len(generated)} generated case(s)" in done.stdout
    for case_id in (generated[0], generated[-1], "GEN-FLOW-case_status-new-closed"):
        assert case_id in done.stdout


def test_unknown_generator_and_bad_plan_exit_3_with_reasons(tmp_path: Path) -> None:
    done = crmqa("expand", str(PLAN), "-g", "listz")
    assert done.returncode == 3
    assert "listz" in done.stderr and "lists" in done.stderr
    bad = tmp_path / "plan.yaml"
    bad.write_text(PLAN.read_text(encoding="utf-8").replace("  read_back: {}", "  read_bak: {}"),
                   encoding="utf-8")
    (tmp_path / "suites").symlink_to(ROOT / "suites")
    bad.write_text(bad.read_text(encoding="utf-8").replace("../suites/", "suites/"),
                   encoding="utf-8")
    done = crmqa("expand", str(bad))
    assert done.returncode == 3
    assert "plan.yaml:" in done.stderr and "read_bak" in done.stderr
    assert "did you mean 'read_back'" in done.stderr
