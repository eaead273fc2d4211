"""The `load:` section in plans and suites: validated like the rest (positions, did-you-mean,
JSON Schema), its rules beside its model, and the one way in it shares with any other kind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crmqa.core.errors import PlanError
from crmqa.load.model import LoadSpec
from crmqa.plan.case_sections import sections_of
from crmqa.plan.effects import CHANGES, LOAD, case_effects
from crmqa.plan.loader import load_plan, validate_paths
from crmqa.plan.models import Plan
from crmqa.plan.schema import schema_for
from crmqa.validation import prepare_run

ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
id: p
name: P
system: {name: s}
target: t
targets:
  t:
    profile: sandbox
    base_url: http://127.0.0.1:9
    load_ok: true
    identities:
      default: {default_username: admin, password_env: PW}
      sales: {default_username: sales, password_env: PW}
cases:
"""

LOAD_CASE = """\
  - id: L
    title: load
    category: performance
    load:
      scenarios:
        - name: s
          tasks:
            - name: t
              steps:
                - op: lead.create
                  with: {data: {first_name: a, last_name: b, email: "{{ fake.unique_email() }}"}}
                  save: {id: record.id}
                - op: lead.get
                  with: {id: "{{ saved.id }}"}
      shape: {users: 3, duration_s: 5}
      slo:
        - {operation: lead.get, p95_ms: 500}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def _issues(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PlanError) as error:
        load_plan(_write(tmp_path, text))
    return [issue.format() for issue in error.value.issues]


def test_a_load_case_loads_as_a_performance_case_needing_both_flags(tmp_path: Path) -> None:
    loaded = load_plan(_write(tmp_path, HEAD + LOAD_CASE))
    case = loaded.case("L").case
    ((key, spec),) = sections_of(case)
    assert key == "load" and isinstance(spec, LoadSpec) and spec.peak_users() == 3
    assert case.steps == [] and case_effects(case) == [LOAD, CHANGES]


def test_the_json_schema_and_reference_know_the_section() -> None:
    schema = schema_for(Plan)
    case = schema["$defs"]["Case"]["properties"]
    assert "load" in case and "Locust" in case["load"]["description"]
    assert {"LoadSpec", "Scenario", "Slo", "StepRampShape"} <= set(schema["$defs"])
    slo = schema["$defs"]["Slo"]["properties"]
    assert slo["p95_ms"]["description"].startswith("95th percentile")


def test_mistakes_are_positioned_with_suggestions(tmp_path: Path) -> None:
    text = HEAD + LOAD_CASE.replace("    load:", "    laod:")
    assert any(":17:5: unknown key 'laod' in this case (did you mean 'load'?)" in issue
               for issue in _issues(tmp_path, text))
    text = HEAD + LOAD_CASE.replace("p95_ms: 500", "p59_ms: 500")
    (issue,) = [i for i in _issues(tmp_path, text) if "p59_ms" in i]
    assert ":30:33: unknown key 'p59_ms' in item 1 of 'slo' (did you mean 'p99_ms'?)" in issue
    text = HEAD + LOAD_CASE.replace("shape: {users: 3, duration_s: 5}",
                               "shape: {duration: 5}")
    assert any("a shape is {users, duration_s, spawn_rate}" in issue
               for issue in _issues(tmp_path, text))


def test_rules_beside_the_model(tmp_path: Path) -> None:
    text = HEAD + LOAD_CASE.replace("category: performance", "category: functional").replace(
        "operation: lead.get", "operation: lead.gett").replace(
        "users: 3,", "users: 500,").replace("saved.id", "saved.lead") + """\
        - {scenario: editors, p99_ms: 900}
        - {users_held: 9, operation: lead.get}
"""
    text = text.replace("        - name: s\n", "        - name: s\n          as: salse\n")
    issues = _issues(tmp_path, text)
    expected = [
        ":16:15: a case with `load:` is a performance case, not functional",
        ":20:15: no target has an identity 'salse' (identities: default, sales) (did you "
        "mean 'sales'?)",
        ":28:30: saved.lead is not saved before this step",
        ":29:22: the shape asks for 500 users, above limits.max_users (200)",
        ":31:23: no step of this load makes 'lead.gett' requests (it makes lead.create, "
        "lead.get) (did you mean 'lead.get'?)",
        ":32:22: this load has no scenario 'editors' (its scenarios: s)",
        ":33:24: users_held is judged over the whole load",
    ]
    for wanted in expected:
        assert any(wanted in issue for issue in issues), (wanted, issues)


def test_a_suite_with_a_load_case_is_checked_alone(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text("suite: {id: s, name: S, category: performance}\ncases:\n" + LOAD_CASE.replace(
        "    category: performance\n", "").replace("saved.id", "saved.nope"))
    (issue,) = validate_paths([suite])
    assert "saved.nope is not saved before this step" in issue.format()


def test_validation_asks_the_drivers_about_the_steps_inside(tmp_path: Path) -> None:
    text = HEAD + LOAD_CASE.replace("with: {id: \"{{ saved.id }}\"}",
                               "with: {idd: \"{{ saved.id }}\"}") + """\
  - id: IMPORTING
    title: import under load
    category: performance
    load:
      scenarios: [{name: s, tasks: [{name: t, steps: [{op: lead.import, with: {rows: []}}]}]}]
      shape: {users: 1, duration_s: 1}
"""
    with pytest.raises(PlanError) as error:
        prepare_run(_write(tmp_path, text))
    issues = [issue.format() for issue in error.value.issues]
    assert any(":27:31: lead.get takes no argument 'idd'" in issue for issue in issues), issues
    assert any(":35:60: lead.import uploads a file" in issue for issue in issues), issues


THIRD_PARTY = '''
"""A kind of work nobody at crmqa wrote: it enters through the same two registries."""
import sys
from pydantic import Field
from crmqa.core.results import CheckResult
from crmqa.drivers.base import StepOutput
from crmqa.drivers.registry import default_registry
from crmqa.plan.models import Strict
from crmqa.plan.case_sections import CaseSection, register_section

class Echo(Strict):
    """Says something, and passes when it says yes."""
    say: str = Field(description="what to say")

register_section(CaseSection(key="echo", model=Echo, description="an echo",
                             effects=lambda section: ["load"]))

class EchoDriver:
    name = "echo"
    def __init__(self, env): pass
    def handles(self, step): return isinstance(step, Echo)
    def needs(self, step): return []
    def run(self, step, ctx):
        ok = step.say == "yes"
        return StepOutput(checks=[CheckResult(name="echo", ok=ok, expected="yes",
                          actual=step.say, message="" if ok else f"echo said {step.say}")])
    def close(self): pass

default_registry().register("echo", (Echo,), EchoDriver)

from pathlib import Path
from crmqa.engine import Engine
from crmqa.plan.loader import load_plan
from crmqa.plan.schema import schema_for
from crmqa.plan.models import Plan
plan = load_plan(sys.argv[1])
engine = Engine(plan, None, Path(sys.argv[2]), "main")
print([engine.run_case(c).outcome.value for c in plan.cases],
      "echo" in schema_for(Plan)["$defs"]["Case"]["properties"])
'''


def test_another_kind_of_work_needs_no_change_to_loader_engine_or_reports(
        tmp_path: Path) -> None:
    (tmp_path / "kind.py").write_text(THIRD_PARTY)
    plan = _write(tmp_path, HEAD + textwrap.dedent("""\
          - {id: A, title: a, category: performance, echo: {say: "yes"}}
          - {id: B, title: b, category: performance, echo: {say: "no"}}
        """).replace("\n- ", "\n  - ").replace("- {id: A", "  - {id: A"))
    done = subprocess.run([sys.executable, str(tmp_path / "kind.py"), str(plan),
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['passed', 'failed'] True"


def test_docs_load_key_tables_match_the_models() -> None:
    from crmqa.plan.reference import refresh_reference

    page = (ROOT / "docs" / "load.md").read_text(encoding="utf-8")
    assert "<!-- keys:Slo -->" in page
    assert refresh_reference(page) == page, (
        "docs/load.md is stale: run `python -m crmqa.plan.reference docs/load.md`")
