"""The plan loader: a valid plan resolves fully; a broken one reports everything at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from crmqa.core.errors import PlanError
from crmqa.plan.loader import (
    LoadedPlan,
    document_kind,
    load_plan,
    load_yaml_document,
    load_yaml_model,
    validate_paths,
)
from crmqa.plan.models import Category

REPO = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


PLAN = """
    id: acme-crm
    name: Acme CRM acceptance
    system: {name: Acme CRM, version: "2.1"}
    target: staging
    targets:
      staging:
        profile: sandbox
        base_url: "{{ env.CRM_URL | default('http://127.0.0.1:8000') }}"
        identities:
          default: {username_env: CRM_USER, password_env: CRM_PASSWORD}
    include:
      - suites/leads.yaml
      - suite: suites/security.yaml
        tags: [smoke]
    data:
      vars: {company: Acme Ltd}
    cases:
      - id: MAN-001
        title: Print a lead
        category: manual
        instructions: Open a lead and print it.
      - id: OWN-001
        title: Health answers
        module: platform
        depends_on: [LEAD-001]
        steps:
          - request: {path: /api/health}
            expect: {status: 200}
    gates:
      must_pass: [LEAD-001]
      max_open_severity: critical
    waivers:
      - {case: SEC-002, owner: QA lead, reason: vendor fix due, expires: 2026-12-31}
    manual_results: {file: manual.yaml}
"""

LEADS = """
    suite: {id: leads, name: Leads, module: leads}
    cases:
      - id: LEAD-001
        title: Create a lead
        severity: critical
        steps:
          - op: lead.create
            with: {data: {email: "{{ fake.unique_email() }}", company: "{{ vars.company }}"}}
            expect: {outcome: ok}
            save: {lead_id: record.id}
      - id: LEAD-002
        title: Reject a bad email
        module: validation
        parameters: [{email: "not-an-email"}, {email: "a@"}]
        steps:
          - op: lead.create
            with: {data: {email: "{{ email }}"}}
            expect: {outcome: rejected, field_errors: [email]}
"""

SECURITY = """
    suite: {id: security, name: Security, module: security, category: security}
    cases:
      - id: SEC-001
        title: No token, no data
        tags: [smoke]
        steps:
          - request: {path: /api/leads, auth: false}
            expect: {status: [401, 403]}
      - id: SEC-002
        title: Lockout after five failures
        tags: [smoke, slow]
        steps:
          - op: user.list
      - id: SEC-003
        title: Not selected
        steps:
          - op: role.list
"""


@pytest.fixture
def plan_path(tmp_path: Path) -> Path:
    write(tmp_path, "suites/leads.yaml", LEADS)
    write(tmp_path, "suites/security.yaml", SECURITY)
    write(tmp_path, "manual.yaml", "results:\n  MAN-001: {result: passed, tester: Ana}\n")
    return write(tmp_path, "plan.yaml", PLAN)


def test_valid_plan_loads_with_includes_defaults_and_filters(plan_path: Path) -> None:
    loaded = load_plan(plan_path)
    assert isinstance(loaded, LoadedPlan)
    assert loaded.path == plan_path and loaded.base_dir == plan_path.parent
    assert loaded.case_ids == ["LEAD-001", "LEAD-002", "SEC-001", "SEC-002", "MAN-001", "OWN-001"]
    lead = loaded.case("LEAD-001")
    assert lead.case.module == "leads" and lead.case.category is Category.FUNCTIONAL
    assert lead.suite_id == "leads" and lead.suite_path == plan_path.parent / "suites/leads.yaml"
    assert (lead.source.line, lead.source.column) == (3, 5)
    assert lead.source.file.endswith("suites/leads.yaml")
    assert loaded.case("LEAD-002").case.module == "validation"  # the case's own value wins
    assert loaded.case("SEC-001").case.category is Category.SECURITY
    own = loaded.case("OWN-001")
    assert own.suite_id is None and own.case.module == "platform"
    assert loaded.manual_results["MAN-001"].tester == "Ana"
    assert loaded.plan.gates.must_pass == ["LEAD-001"]
    assert loaded.plan.waivers[0].expires == "2026-12-31"  # an unquoted date stays text


def test_problems_in_several_files_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "suites/leads.yaml", LEADS.replace("op: lead.create", "op: lead.creat", 1))
    write(
        tmp_path, "suites/security.yaml", SECURITY.replace("category: security", "category: secure")
    )
    write(tmp_path, "manual.yaml", "results:\n  MAN-01: {result: passed, tester: Ana}\n")
    plan = PLAN.replace("target: staging", "target: stagin").replace(
        "must_pass: [LEAD-001]", "must_pass: [LEAD-009]"
    )
    path = write(tmp_path, "plan.yaml", plan)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    text = [issue.format() for issue in caught.value.issues]
    assert len(text) == 5, "\n".join(text)
    files = [
        issue.position.file.rsplit("/", 1)[-1] for issue in caught.value.issues if issue.position
    ]
    assert files == ["plan.yaml", "plan.yaml", "leads.yaml", "security.yaml", "manual.yaml"]
    joined = "\n".join(text)
    assert "did you mean 'staging'?" in joined
    assert "unknown case id 'LEAD-009'" in joined
    assert "did you mean 'lead.create'?" in joined
    assert "did you mean 'security'?" in joined
    assert "unknown manual case 'MAN-01' (did you mean 'MAN-001'?)" in joined
    assert str(caught.value) == joined  # the exception's text is the same report


def test_plan_error_positions_are_one_based_with_source_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "plan.yaml",
        PLAN.replace("max_open_severity: critical", "max_open_severity: critcal"),
    )
    write(tmp_path, "suites/leads.yaml", LEADS)
    write(tmp_path, "suites/security.yaml", SECURITY)
    write(tmp_path, "manual.yaml", "results: {}\n")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    (issue,) = caught.value.issues
    assert issue.position is not None
    assert (issue.position.line, issue.position.column) == (31, 22)
    assert issue.source_line == "  max_open_severity: critcal"
    assert issue.suggestion == "did you mean 'critical'?"


def test_suite_given_as_plan_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, "leads.yaml", LEADS)
    with pytest.raises(PlanError, match="this is a suite file, not a plan"):
        load_plan(path)


class _Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    port: int = 80


def test_load_yaml_model_gives_positions_and_errors(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", "name: x\nport: 8080\n")
    model, positions = load_yaml_model(good, _Sample)
    assert model.port == 8080
    assert positions.value(("port",)) is not None and positions.value(("port",)).line == 2
    bad = write(tmp_path, "bad.yaml", "nme: x\nport: eighty\n")
    with pytest.raises(PlanError) as caught:
        load_yaml_model(bad, _Sample, what="a sample")
    messages = [issue.format().splitlines()[0] for issue in caught.value.issues]
    assert messages == [
        f"{bad}:1:1: unknown key 'nme' in the document (did you mean 'name'?)",
        f"{bad}:2:7: 'port' must be a whole number, not the text 'eighty'",
    ]


def test_load_yaml_document_keeps_key_and_value_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "doc.yaml", "a:\n  b: [1, 2]\n")
    document = load_yaml_document(path)
    assert document.ok and document.data == {"a": {"b": [1, 2]}}
    assert document.positions.key(("a", "b")).column == 3
    assert document.positions.value(("a", "b", 1)).column == 10


def test_document_kind() -> None:
    assert document_kind({"suite": {}, "cases": []}) == "suite"
    assert document_kind({"id": "x", "targets": {}}) == "plan"
    assert document_kind({"results": {}}) == "manual_results"
    assert document_kind(["x"]) is None


def test_validate_paths_accepts_plans_suites_and_folders(plan_path: Path) -> None:
    assert validate_paths([plan_path]) == []
    assert validate_paths([plan_path.parent / "suites"]) == []
    assert validate_paths([plan_path.parent]) == []  # the plan, its suites and manual.yaml


def test_validate_paths_extra_kinds_hook(tmp_path: Path) -> None:
    path = write(tmp_path, "profile.yaml", "profile: {name: x}\n")
    seen: list[Path] = []

    def check_profile(file: Path) -> list:
        seen.append(file)
        return []

    assert validate_paths([path], extra_kinds={"profile": check_profile}) == []
    assert seen == [path]


def test_missing_file_is_an_issue_not_a_traceback(tmp_path: Path) -> None:
    issues = validate_paths([tmp_path / "nope.yaml"])
    assert len(issues) == 1 and "file not found" in issues[0].message


def test_repository_plans_and_suites_are_valid() -> None:
    """The shipped example plans and portable suites must always load."""
    paths = [p for p in (REPO / "plans", REPO / "suites") if p.exists()]
    issues = validate_paths(paths)
    assert issues == [], "\n".join(issue.format() for issue in issues)


def test_validating_a_plan_and_its_suite_folder_reports_each_issue_once(tmp_path: Path) -> None:
    write(tmp_path, "suites/leads.yaml", LEADS.replace("title: Create a lead", "titel: Create"))
    write(tmp_path, "suites/security.yaml", SECURITY)
    write(tmp_path, "manual.yaml", "results: {}\n")
    plan = write(tmp_path, "plan.yaml", PLAN)
    issues = validate_paths([plan, tmp_path / "suites"])
    unknown = [issue for issue in issues if "unknown key 'titel'" in issue.message]
    assert len(unknown) == 1
