"""Cross-reference rules, the rule registry, run order, and positions for later layers."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from graphlib import CycleError
from pathlib import Path

import pytest

from crmqa.core.errors import PlanError, PlanIssue
from crmqa.plan import rules
from crmqa.plan.dependencies import dependency_cycles, run_order
from crmqa.plan.loader import LoadedPlan, dependency_order, load_plan, validate_paths
from crmqa.plan.rules import RuleContext, plan_rule, registered_rules
from tests.plan.test_plan_loader import LEADS, PLAN, SECURITY, write

HEAD = """\
id: p
name: P
system: {name: CRM}
target: t
targets:
  t:
    profile: sandbox
    base_url: "http://127.0.0.1:1"
    identities: {default: {username_env: U}}
"""


def _plan(tmp_path: Path, cases: str) -> Path:
    return write(tmp_path, "plan.yaml", HEAD + "cases:\n" + textwrap.indent(cases, "  "))


def _issues(tmp_path: Path, cases: str) -> list[PlanIssue]:
    with pytest.raises(PlanError) as caught:
        load_plan(_plan(tmp_path, cases))
    return caught.value.issues


# --------------------------------------------------------------------------- parameters

PARAMETERS = """\
- id: P1
  title: parameters
  parameters:
    - {status: new, source: web}
    - {status: qualified}
  steps:
    - op: lead.create
      with: {data: {status: "{{ params.status }}", source: "{{ params.source }}"}}
      expect: {record: {note: "{{ params.stauts }}"}}
"""


def test_params_must_be_in_every_parameter_set(tmp_path: Path) -> None:
    issues = _issues(tmp_path, PARAMETERS)
    text = [(issue.position.line, issue.message) for issue in issues if issue.position]
    assert text == [
        (
            18,
            "parameter 'source' is missing from parameter set 2 of this case: every set must "
            "give the parameters the case uses",
        ),
        (19, "params.stauts is not a parameter of this case (its parameters: source, status)"),
    ]
    assert issues[1].suggestion == "did you mean 'status'?"


def test_params_without_parameters_and_bare_names(tmp_path: Path) -> None:
    cases = """\
    - id: P2
      title: no parameters
      steps:
        - op: lead.get
          with: {id: "{{ params.id }}"}
    - id: P3
      title: bare names
      parameters: [{email: a@x.org}, {mail: b@x.org}]
      steps:
        - op: lead.create
          with: {data: {email: "{{ email }}"}}
    """
    messages = [issue.message for issue in _issues(tmp_path, textwrap.dedent(cases))]
    assert messages == [
        "params.id is used, but this case has no parameters (add parameters: [{id: ...}])",
        "parameter 'email' is missing from parameter set 2 of this case: every set must give "
        "the parameters the case uses",
    ]


def test_params_given_by_every_set_are_fine(tmp_path: Path) -> None:
    cases = PARAMETERS.replace("{status: qualified}", "{status: qualified, source: event}")
    loaded = load_plan(_plan(tmp_path, cases.replace("params.stauts", "params.status")))
    assert len(loaded.case("P1").case.parameters) == 2


# --------------------------------------------------------------------------- dependencies


def test_dependency_cycles_are_reported_once_each_with_their_chain(tmp_path: Path) -> None:
    cases = "".join(
        f"- {{id: {name}, title: t, depends_on: [{after}], steps: [{{op: lead.list}}]}}\n"
        for name, after in [
            ("A", "B"),
            ("B", "C"),
            ("C", "A"),
            ("D", "A"),  # waits on the cycle, is not on it
            ("E", "F"),
            ("F", "E"),
            ("G", "D"),
        ]
    )
    issues = _issues(tmp_path, cases)
    assert [issue.message for issue in issues] == [
        "cases depend on each other in a cycle: A -> B -> C -> A",
        "cases depend on each other in a cycle: E -> F -> E",
    ]
    assert [issue.position.line for issue in issues if issue.position] == [11, 15]


def test_dependency_cycles_scale_linearly() -> None:
    count = 100_000
    ids = [f"C{n}" for n in range(count)]
    depends: list[list[str]] = [[f"C{n + 1}"] for n in range(count - 1)] + [["C0"]]
    assert dependency_cycles(ids, depends)[0][:3] == ["C0", "C1", "C2"]
    depends[-1] = []
    assert dependency_cycles(ids, depends) == []
    assert run_order(ids, depends)[:2] == [count - 1, count - 2]


def test_dependency_order_is_stable_and_respects_depends_on(tmp_path: Path) -> None:
    cases = "".join(
        f"- {{id: {name}, title: t, depends_on: [{', '.join(after)}], "
        "steps: [{op: lead.list}]}\n"
        for name, after in [
            ("A", ["C"]),
            ("B", []),
            ("C", []),
            ("D", ["A", "B"]),
            ("E", []),
        ]
    )
    loaded = load_plan(_plan(tmp_path, cases))
    order = [case.case.id for case in loaded.dependency_order()]
    assert order == ["B", "C", "A", "D", "E"]
    assert [case.case.id for case in dependency_order(loaded.cases)] == order
    assert [c.case.id for c in dependency_order(loaded.cases[1:])] == ["B", "C", "D", "E"]


def test_dependency_order_refuses_a_cycle() -> None:
    with pytest.raises(CycleError):
        run_order(["A", "B"], [["B"], ["A"]])


# --------------------------------------------------------------------------- registry


def test_a_registered_rule_runs_in_every_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new plan section adds its rules beside its model; the loader does not change."""
    monkeypatch.setattr(rules, "_RULES", list(registered_rules()))

    @plan_rule
    def titles_are_short(context: RuleContext) -> Iterator[PlanIssue]:
        for case in context.cases:
            title = case.raw.get("title")
            if isinstance(title, str) and len(title) > 10:
                yield case.issue("titles are short here", "title")

    assert titles_are_short in registered_rules()
    case = "- {id: A, title: far too long a title, steps: [{op: lead.list}]}\n"
    (issue,) = _issues(tmp_path, case)
    assert issue.message == "titles are short here"
    assert issue.position is not None and (issue.position.line, issue.position.column) == (11, 20)


def test_built_in_rules_are_plain_functions_in_one_registry() -> None:
    names = [rule.__name__ for rule in registered_rules()]
    assert {"unique_case_ids", "no_dependency_cycles", "parameters_defined", "known_target"} <= set(
        names
    )
    assert len(names) == len(set(names))


# --------------------------------------------------------------------------- positions


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedPlan:
    write(tmp_path, "suites/leads.yaml", LEADS)
    write(tmp_path, "suites/security.yaml", SECURITY)
    write(tmp_path, "manual.yaml", "results:\n  MAN-001: {result: passed, tester: Ana}\n")
    return load_plan(write(tmp_path, "plan.yaml", PLAN))


def test_loaded_cases_position_issues_inside_their_steps(loaded: LoadedPlan) -> None:
    lead = loaded.case("LEAD-001")
    assert lead.path == ("cases", 0) and lead.positions is not None
    assert lead.positions.file.endswith("suites/leads.yaml")
    issue = lead.issue("not on this CRM", ("steps", 0, "expect", "outcome"), suggestion="x?")
    assert issue.position is not None
    assert (issue.position.line, issue.position.column) == (9, 27)
    assert issue.source_line == "        expect: {outcome: ok}"
    assert issue.suggestion == "x?"
    key = lead.issue("k", ("steps", 0, "save", "lead_id"), at_key=True)
    assert key.position is not None and (key.position.line, key.position.column) == (10, 16)
    # a path that is not written points at its nearest written ancestor
    absent = lead.issue("m", ("steps", 0, "expect", "body", 3, "path"))
    assert absent.position == lead.position(("steps", 0, "expect"))


def test_loaded_plan_positions_issues_on_its_targets(loaded: LoadedPlan) -> None:
    issue = loaded.issue("unreachable", ("targets", "staging", "base_url"))
    assert issue.position is not None and issue.position.line == 8
    assert issue.source_line is not None and "base_url" in issue.source_line
    own = loaded.case("OWN-001")
    assert own.positions is loaded.positions and own.path == ("cases", 1)


def test_validate_paths_reports_new_rules_for_a_suite_alone(tmp_path: Path) -> None:
    suite = write(
        tmp_path,
        "suite.yaml",
        """\
        suite: {id: s, name: S}
        cases:
          - id: A
            title: a
            depends_on: [B]
            steps: [{op: lead.get, with: {id: "{{ params.id }}"}}]
          - id: B
            title: b
            depends_on: [A]
            steps: [{op: lead.list}]
        """,
    )
    messages = [issue.message for issue in validate_paths([suite])]
    assert messages == [
        "cases depend on each other in a cycle: A -> B -> A",
        "params.id is used, but this case has no parameters (add parameters: [{id: ...}])",
    ]
