"""The one validation before any request: focused tests of its rules, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmqa.core.errors import PlanError
from crmqa.drivers.api.checks import check_api_step
from crmqa.drivers.base import StepCheckContext
from crmqa.drivers.ui.checks import check_ui_step
from crmqa.plan.effects import (
    CHANGES,
    LOAD,
    case_effects,
    step_changes_records,
    step_repeatable,
)
from crmqa.plan.models import Case, OpStep, RequestStep, UiStep
from crmqa.profiles.loader import resolve_profile
from crmqa.validation import prepare_run
from crmqa.validation.cases import need_problem

SANDBOX = resolve_profile("sandbox")


def ui(**step) -> list[str]:
    context = StepCheckContext(profile=SANDBOX, base_dir=Path(__file__).parents[2])
    return [p.message for p in check_ui_step(UiStep.model_validate(step), context)]


def test_ui_names_canonical_or_mapped_pass_typos_do_not() -> None:
    assert ui(ui="open", target="lead_list") == []
    assert ui(ui="click", target="lead_list.search") == []
    # canonical, but the sandbox maps no contact screens: not applicable at run time, not here
    assert ui(ui="open", target="contact_list") == []
    assert ui(ui="click", target="lead_detail.convert") == []  # canonical control, unmapped
    [typo] = ui(ui="open", target="lead_lsit")
    assert typo.startswith("unknown screen 'lead_lsit'")
    [element] = ui(ui="fill", target="lead_form", values={"frist_name": "Ann"})
    assert "has no element 'frist_name'" in element
    # templated names and raw locators are judged when they run / by their grammar
    assert ui(ui="click", target="lead_form.{{ params.field }}") == []
    assert ui(ui="click", target='role=button[name="Save"]') == []
    [locator] = ui(ui="click", target="nth=0")
    assert locator.startswith("bad locator 'nth=0'")
    assert ui(ui="click", target="lead_list.rows >> nth=0") == []
    assert ui(ui="expect_url", target="/leads") == []


def test_ui_upload_files_are_found_by_the_plan_rule() -> None:
    assert ui(ui="upload", target="lead_import.file", value="fixtures/leads/ui_import.csv") == []
    [missing] = ui(ui="upload", target="lead_import.file", value="fixtures/none.csv")
    assert missing.startswith("data file 'fixtures/none.csv' not found")


def test_api_operation_arguments_and_files() -> None:
    context = StepCheckContext(profile=SANDBOX, base_dir=Path(__file__).parents[2])
    [typo] = check_api_step(OpStep.model_validate(
        {"op": "lead.search", "with": {"qeury": "x"}}), context)
    assert typo.where == ("with", "qeury") and typo.suggestion == "did you mean 'query'?"
    assert check_api_step(OpStep.model_validate(
        {"op": "lead.import", "with": {"file": "fixtures/leads/ui_import.csv"}}), context) == []
    [missing] = check_api_step(RequestStep.model_validate(
        {"request": {"method": "POST", "path": "/x", "files": {"file": "nope.csv"}}}), context)
    assert missing.where == ("request", "files", "file")
    # an adapter may take arguments crmqa does not know
    adapted = SANDBOX.model_copy(update={"adapter": "x:Y"})
    assert check_api_step(OpStep.model_validate({"op": "lead.search", "with": {"soql": "x"}}),
                          StepCheckContext(profile=adapted, base_dir=Path("."))) == []


@pytest.mark.parametrize(("need", "ok"), [
    ("api", True), ("lead", True), ("lead.import", True), ("screen:lead_list", True),
    ("screen:lead_list.search", True), ("screen:contact_form.email", True),
    ("identity:viewer", True), ("changes", True), ("load", True),
    ("lead.imprt", False), ("screen:lead_lsit", False), ("screen:lead_list.serch", False),
    ("leads", False), ("field:lead.notes", True), ("field:lead.nots", False),
    ("field:leed.notes", False),
])
def test_needs_must_name_a_capability(need: str, ok: bool) -> None:
    assert (need_problem(need, SANDBOX) is None) is ok


def test_what_changes_records() -> None:
    assert step_changes_records(OpStep(op="lead.create"))
    assert not step_changes_records(OpStep(op="lead.search"))
    assert step_changes_records(RequestStep.model_validate(
        {"request": {"method": "DELETE", "path": "/x"}}))
    assert not step_changes_records(RequestStep.model_validate({"request": {"path": "/x"}}))
    assert step_changes_records(UiStep(ui="click", target="lead_form.save"))
    assert step_changes_records(UiStep(ui="fill", target="lead_edit", values={"email": "x"}))
    assert step_changes_records(UiStep(ui="click", target="lead_detail.delete"))
    assert not step_changes_records(UiStep(ui="fill", target="lead_list.search", value="x"))
    assert not step_changes_records(UiStep(ui="expect_text", target="lead_form.errors"))
    assert not step_changes_records(UiStep(ui="click", target="login.submit"))
    case = Case.model_validate({"id": "P", "title": "p", "category": "performance",
                                "steps": [{"op": "lead.create"}]})
    assert case_effects(case) == [CHANGES, LOAD]


def test_what_may_be_done_again_to_measure_a_time() -> None:
    # what changes no records, and in the UI acts only on controls the profile names
    assert step_repeatable(OpStep(op="lead.search"))
    assert not step_repeatable(OpStep(op="lead.create"))
    assert step_repeatable(UiStep(ui="open", target="lead_list"))
    assert step_repeatable(UiStep(ui="press", target="lead_list.search", value="Enter"))
    assert step_repeatable(UiStep(ui="fill", target="css=input", value="x"))  # typing only
    assert not step_repeatable(UiStep(ui="click", target="lead_form.save"))
    # a raw locator's click, or a key pressed on no element, may submit any form
    assert not step_changes_records(UiStep(ui="click", target="css=button"))
    assert not step_repeatable(UiStep(ui="click", target="css=button"))
    assert not step_repeatable(UiStep(ui="press", value="Enter"))


PLAN = """\
id: v
name: V
system: {name: s}
target: crm
targets:
  crm:
    profile: PROFILE
    base_url: "{{ env.V_URL }}"
    identities:
      default: {username_env: V_USER, password_env: V_PASSWORD}
      viewer: {default_username: viewer, password_env: V_VIEWER_PASSWORD}
      unused: {default_username: x, password_env: V_UNUSED}
cases:
  - id: A
    title: a
    steps:
      - op: lead.list
      - op: lead.list
        as: viewer
"""


def write(tmp_path: Path, profile: str = "sandbox") -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("PROFILE", profile), encoding="utf-8")
    return plan


def test_the_environment_must_hold_what_the_cases_need(tmp_path: Path) -> None:
    plan = write(tmp_path)
    prepare_run(plan)  # without an environment (crmqa validate) nothing is required
    with pytest.raises(PlanError) as caught:
        prepare_run(plan, environment={"V_USER": "u"})
    messages = [issue.format() for issue in caught.value.issues]
    assert f"{plan}:8:15: target 'crm' base_url: environment variable V_URL is not set" in (
        messages[0])
    assert messages[1].startswith(f"{plan}:10:7: environment variable V_PASSWORD is not set")
    assert messages[2].startswith(
        f"{plan}:11:7: environment variable V_VIEWER_PASSWORD is not set")
    assert len(messages) == 3  # `unused` is never acted as
    prepare_run(plan, environment={"V_URL": "http://127.0.0.1:9", "V_USER": "u",
                                   "V_PASSWORD": "p", "V_VIEWER_PASSWORD": "p"})


def test_a_profile_that_cannot_be_found_is_reported_at_the_plans_line(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        prepare_run(write(tmp_path, "sandbx"))
    [issue] = caught.value.issues
    assert issue.position is not None and issue.position.line == 7
    assert "unknown profile 'sandbx'" in issue.message and issue.suggestion


def test_an_unknown_target_is_named_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="has no target 'crn'"):
        prepare_run(write(tmp_path), target="crn")


def test_notes_say_what_the_target_flags_leave_out(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("PROFILE", "sandbox").replace(
        "      - op: lead.list\n        as: viewer\n",
        "      - op: lead.create\n        with: {data: {}}\n"), encoding="utf-8")
    prepared = prepare_run(plan)
    [note] = prepared.notes
    assert "destructive_ok: false, so 1 case(s) that change records" in note
    assert "set destructive_ok: true" in note
