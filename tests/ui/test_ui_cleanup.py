"""Leads made through the web UI are deleted when the case ends, also when it fails first.

Real sandbox, real Chromium, the real loader and engine. The case below fills the lead form,
saves, and then fails before it could save the new lead's id: nothing of it may stay in the CRM,
whatever the profile offers to delete with (the API, or only the UI's delete screen).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from crmqa.core.events import DriverCall, subscribe
from crmqa.core.results import CaseResult, Outcome
from crmqa.engine import Engine, RecordingReporter
from crmqa.plan.loader import load_plan
from crmqa.profiles.loader import BUILTIN_DIR
from crmqa.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.slow

PLAN = """\
id: ui-cleanup
name: UI clean-up
system: {{name: sandbox}}
target: sandbox
targets:
  sandbox:
    profile: {profile}
    base_url: "{base_url}"
    destructive_ok: true
    identities:
      default: {{default_username: sales, password_env: CRMQA_SANDBOX_PASSWORD}}
      admin: {{default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD}}
cases:
  - id: UI-LEFT
    title: Create a lead through the form, then fail before saving its id
    steps:
      - {{ui: open, target: lead_form}}
      - ui: fill
        target: lead_form
        values:
          first_name: "Ui{{{{ unique }}}}"
          last_name: "{marker}"
          email: "{{{{ fake.unique_email() }}}}"
      - {{ui: click, target: lead_form.save}}
      - name: a later expectation fails
        ui: expect_url
        value: /nowhere
        timeout_s: 0.5
      - ui: expect_url
        value: /leads/
        save: {{lead_id: params.id}}
"""


def _profile(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> str:
    """A copy of the sandbox profile, changed, written next to the plan."""
    data = yaml.safe_load((BUILTIN_DIR / "sandbox.yaml").read_text(encoding="utf-8"))
    data["name"] = name
    change(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path.name


def _no_api(data: dict[str, Any]) -> None:
    del data["entities"]


def _no_api_delete(data: dict[str, Any]) -> None:
    del data["entities"]["lead"]["operations"]["delete"]


def _no_record_screens(data: dict[str, Any]) -> None:
    # The page after saving then matches no screen: the new lead's id is not seen.
    for screen in ("lead_detail", "lead_edit", "lead_delete"):
        del data["screens"][screen]


def _nothing_deletes(data: dict[str, Any]) -> None:
    _no_api(data)
    del data["screens"]["lead_delete"]


def _no_api_no_record_screens(data: dict[str, Any]) -> None:
    _no_api(data)
    _no_record_screens(data)


def _leads(api: requests.Session, base_url: str, marker: str) -> list[dict[str, Any]]:
    answer = api.get(f"{base_url}/api/leads", params={"q": marker}, timeout=5).json()
    return list(answer["items"])


RunCase = Callable[..., tuple[CaseResult, list[DriverCall]]]


@pytest.fixture
def run_case(sandbox: SandboxHandle, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[RunCase]:
    """Run UI-LEFT on the sandbox with a profile; the result and the driver calls it made."""
    monkeypatch.setenv("CRMQA_SANDBOX_PASSWORD", sandbox.password)
    monkeypatch.setenv("CRMQA_UI_TIMEOUT", "3")
    engines: list[Engine] = []

    def run(profile: str, marker: str, plan: str = PLAN) -> tuple[CaseResult, list[DriverCall]]:
        (tmp_path / "plan.yaml").write_text(
            plan.format(profile=profile, base_url=sandbox.base_url, marker=marker))
        loaded = load_plan(tmp_path / "plan.yaml")
        engine = Engine(loaded, None, tmp_path / "run", "gw-clean", RecordingReporter())
        engines.append(engine)
        calls: list[DriverCall] = []
        stop_listening = subscribe(calls.append)
        try:
            result = engine.run_case(loaded.case("UI-LEFT"))
        finally:
            stop_listening()
        return result, calls

    yield run
    for engine in engines:
        engine.close()


@pytest.mark.parametrize(("variant", "change", "deleted_by"), [
    ("api", None, "DELETE"),  # the built-in profile: lead.delete through the API
    ("ui-only", _no_api, "delete lead"),  # no API at all: the lead_delete screen
    ("no-api-delete", _no_api_delete, "delete lead"),
    # the id is never shown: found again by its unique values through the API's search
    ("id-not-shown", _no_record_screens, "DELETE"),
])
def test_a_lead_made_through_the_form_is_deleted_after_a_failure(
    run_case: RunCase, sandbox: SandboxHandle, admin_api: requests.Session, tmp_path: Path,
    variant: str, change: Callable[[dict[str, Any]], None] | None, deleted_by: str,
) -> None:
    profile = "sandbox" if change is None else _profile(tmp_path, f"sandbox-{variant}", change)
    marker = f"Left{uuid.uuid4().hex[:10]}"
    assert _leads(admin_api, sandbox.base_url, marker) == []
    result, calls = run_case(profile, marker)
    assert result.outcome is Outcome.FAILED, result.message
    assert "a later expectation fails" in result.message
    assert result.leftovers == []
    assert [s for s in result.steps if s.kind == "cleanup"] == []
    # it was made, and then deleted by the engine (the case never got to save its id)
    deletes = [call for call in calls if call.name.startswith(deleted_by)]
    assert len(deletes) == 1 and deletes[0].ok, [call.name for call in calls]
    assert deletes[0].extra.get("status", 204) == 204
    assert _leads(admin_api, sandbox.base_url, marker) == []


@pytest.mark.parametrize(("variant", "change", "reason", "with_id"), [
    ("nothing-deletes", _nothing_deletes,
     "no driver can delete a lead: the profile has no lead.delete and no lead_delete screen",
     True),
    ("nothing-finds", _no_api_no_record_screens,
     "its id was not shown and the profile can neither search nor list lead records to "
     "find it",
     False),
])
def test_a_lead_that_cannot_be_deleted_is_listed_as_left_over(
    run_case: RunCase, sandbox: SandboxHandle, admin_api: requests.Session, tmp_path: Path,
    variant: str, change: Callable[[dict[str, Any]], None], reason: str, with_id: bool,
) -> None:
    marker = f"Left{uuid.uuid4().hex[:10]}"
    result, _ = run_case(_profile(tmp_path, f"sandbox-{variant}", change), marker)
    left = _leads(admin_api, sandbox.base_url, marker)
    try:
        assert result.outcome is Outcome.FAILED, result.message
        assert len(left) == 1
        [leftover] = result.leftovers
        assert leftover.entity == "lead"
        assert leftover.identity == "default"
        assert leftover.reason == reason
        assert leftover.record_id == (str(left[0]["id"]) if with_id else None)
        assert leftover.values["last_name"] == marker
        assert leftover.values["email"] == left[0]["email"]
        [step] = [s for s in result.steps if s.kind == "cleanup"]
        assert step.outcome is Outcome.BROKEN
        shown = f"lead {left[0]['id']}" if with_id else "lead with first_name='Ui"
        assert step.message.startswith(f"could not delete {shown}")
        assert reason in step.message
    finally:
        for lead in left:
            admin_api.delete(f"{sandbox.base_url}/api/leads/{lead['id']}", timeout=5)


def test_a_passing_case_that_saved_the_id_is_cleaned_up_once(
    run_case: RunCase, sandbox: SandboxHandle, admin_api: requests.Session,
) -> None:
    """The id read from the page is tracked; no leftover, no broken step, one delete."""
    marker = f"Kept{uuid.uuid4().hex[:10]}"
    passing = PLAN.replace("        value: /nowhere\n", "        value: /leads/\n")
    assert passing != PLAN
    result, calls = run_case("sandbox", marker, passing)
    assert result.outcome is Outcome.PASSED, result.message
    assert result.leftovers == []
    deletes = [call for call in calls if call.name.startswith("DELETE")]
    assert len(deletes) == 1 and deletes[0].ok
    assert _leads(admin_api, sandbox.base_url, marker) == []



WAIT_PLAN = PLAN.split("cases:", 1)[0] + """cases:
  - id: UI-LEFT
    title: Open the list again until a lead shows up
    setup:
      - op: lead.create
        with: {{data: {{first_name: Wait, last_name: "{marker}",
                        email: "{{{{ fake.unique_email() }}}}"}}}}
    steps:
      - name: the lead is listed
        wait_until:
          step: {{ui: open, target: lead_list, values: {{q: "{marker}"}}}}
          success:
            body: [{{path: text, contains: "{marker}"}}]
          timeout_s: 5
          interval_s: 0.2
      - name: never listed
        wait_until:
          step: {{ui: open, target: lead_list, values: {{q: "{marker}"}}}}
          success:
            body: [{{path: text, contains: "Never{marker}"}}]
          timeout_s: 0.5
          interval_s: 0.2
"""


def test_wait_until_opens_a_screen_again_until_it_shows_the_text(
    run_case: RunCase, sandbox: SandboxHandle, admin_api: requests.Session,
) -> None:
    marker = f"Wait{uuid.uuid4().hex[:10]}"
    result, calls = run_case("sandbox", marker, WAIT_PLAN)
    assert result.steps[1].outcome is Outcome.PASSED, result.steps[1].message
    assert result.outcome is Outcome.FAILED
    assert result.message.startswith("step 3 'never listed' (wait until (ui open lead_list)): "
                                     "not met within 0.5 s ("), result.message
    assert f"expected to contain 'Never{marker}'" in result.message
    opened = [call for call in calls if call.kind == "ui" and call.name == "open lead_list"]
    assert len(opened) >= 2  # each attempt opens the screen again
    assert result.leftovers == [] and _leads(admin_api, sandbox.base_url, marker) == []
