"""What the engine does with the records a case created: delete, find first, or list as left over.

The sandbox CRM is the target (its API searches and deletes); a small third-party driver stands
for a driver that saw a record made but not its id, as the UI driver does when a form goes back
to a list. It tracks what its step entered, as `track_created(..., values=...)`.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crmqa.core.results import CaseResult, Outcome
from crmqa.drivers.api.driver import ApiDriver
from crmqa.drivers.base import StepOutput
from crmqa.drivers.registry import DriverEnvironment, load_registry
from crmqa.engine import Engine
from crmqa.plan.loader import load_plan
from crmqa.plan.models import UiStep
from crmqa.sandbox.testing import SandboxHandle
from tests.engine.conftest import TinyServer

PLAN = """\
id: cleanup
name: Clean-up
system: {{name: sandbox}}
target: sandbox
targets:
  sandbox:
    profile: sandbox
    base_url: "{base_url}"
    destructive_ok: true
    identities:
      default: {{default_username: sales, password_env: CRMQA_SANDBOX_PASSWORD}}
      admin: {{default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD}}
cases:
{cases}
"""


class EnteredValuesDriver:
    """Handles `ui: fill` by remembering a lead made with the step's values (no id seen)."""

    name = "entered-values"

    def __init__(self, env: DriverEnvironment) -> None:
        self.env = env

    def handles(self, step: Any) -> bool:
        return isinstance(step, UiStep)

    def needs(self, step: Any) -> list[str]:
        return []

    def run(self, step: Any, ctx: Any) -> StepOutput:
        ctx.track_created("lead", None, "default", values=step.values)
        return StepOutput(summary="form sent")

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        raise AssertionError("records are deleted by the driver that can (the API)")

    def can_delete(self, entity: str) -> bool:
        return False

    def close(self) -> None:
        return None


RunCase = Callable[[str], CaseResult]


@pytest.fixture
def run_case(sandbox: SandboxHandle, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[RunCase]:
    monkeypatch.setenv("CRMQA_SANDBOX_PASSWORD", sandbox.password)
    engines: list[Engine] = []

    def run(cases: str) -> CaseResult:
        (tmp_path / "plan.yaml").write_text(PLAN.format(
            base_url=sandbox.base_url, cases=textwrap.indent(textwrap.dedent(cases), "  ")))
        loaded = load_plan(tmp_path / "plan.yaml")
        registry = load_registry(include_entry_points=False)
        registry.register("entered-values", (UiStep,), EnteredValuesDriver)
        engine = Engine(loaded, None, tmp_path / "run", "gw-cl", registry=registry)
        engines.append(engine)
        return engine.run_case(loaded.cases[0])

    yield run
    for engine in engines:
        engine.close()


def _count(sandbox: SandboxHandle, query: str) -> int:
    http = requests.Session()
    token = http.post(f"{sandbox.base_url}/api/auth/token",
                      json={"username": "admin", "password": sandbox.password},
                      timeout=5).json()["access_token"]
    answer = http.get(f"{sandbox.base_url}/api/leads", params={"q": query},
                      headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    return int(answer["total"])


def test_a_record_known_by_its_values_is_found_and_deleted(run_case, sandbox):
    marker = f"Found{uuid.uuid4().hex[:10]}"
    result = run_case(f"""
        - id: FOUND
          title: made through a form that showed no id
          steps:
            - name: the form's request, raw, so that the engine tracks nothing
              request:
                method: POST
                path: /api/leads
                json: {{first_name: "Form{{{{ unique }}}}", last_name: {marker},
                        email: "{{{{ fake.unique_email() }}}}"}}
              expect: {{status: 201}}
              save: {{name: first_name, email: email}}
            - ui: fill
              values: {{first_name: "{{{{ saved.name }}}}", email: "{{{{ saved.email }}}}",
                       company: Acme}}
            - op: lead.search
              with: {{query: {marker}}}
              expect: {{total: 2}}
    """)
    assert result.outcome is Outcome.FAILED, result.message  # after the lead was made
    assert "total: expected 2, got 1" in result.message
    assert result.leftovers == []
    assert [s for s in result.steps if s.kind == "cleanup"] == []
    assert _count(sandbox, marker) == 0


@pytest.mark.parametrize(("values", "reason"), [
    ("{first_name: Plain, last_name: Name}",
     "its id was not shown and none of the values entered is unique (an e-mail, or text with "
     "{{ unique }}) to find it by"),
    ('{first_name: "Twin{{ unique }}"}', "2 lead records hold first_name='Twin"),
])
def test_a_record_that_cannot_be_told_apart_is_left_over(run_case, sandbox, values, reason):
    marker = f"Twin{uuid.uuid4().hex[:10]}"
    result = run_case(f"""
        - id: LEFT
          title: two leads share the value the form entered
          steps:
            - op: lead.create
              with: {{data: {{first_name: "Twin{{{{ unique }}}}", last_name: {marker},
                             email: "{{{{ fake.unique_email() }}}}"}}}}
            - op: lead.create
              with: {{data: {{first_name: "Twin{{{{ unique }}}}", last_name: {marker},
                             email: "{{{{ fake.unique_email() }}}}"}}}}
            - ui: fill
              values: {values}
    """)
    assert result.outcome is Outcome.PASSED, result.message
    [leftover] = result.leftovers
    assert leftover.record_id is None and leftover.reason.startswith(reason)
    [step] = [s for s in result.steps if s.kind == "cleanup"]
    assert step.outcome is Outcome.BROKEN
    assert step.message.startswith("could not delete lead with first_name=")
    # nothing was deleted on a guess, and the two leads the API made (ids known) are gone
    assert _count(sandbox, marker) == 0


def test_nothing_found_means_nothing_was_made(run_case):
    result = run_case("""
        - id: NONE
          title: a form the CRM refused
          steps:
            - ui: fill
              values: {email: "nobody.{{ unique }}@example.test"}
    """)
    assert result.outcome is Outcome.PASSED
    assert result.leftovers == []
    assert [s.kind for s in result.steps] == ["ui"]


def test_the_api_finds_by_listing_when_it_cannot_search(tiny_server: Callable[..., TinyServer],
                                                        driver_factory: Callable[..., ApiDriver]):
    records = [{"lead_id": 1, "mail": "a@x.test", "name": "Ann"},
               {"lead_id": 2, "mail": "b@x.test", "name": "Bob"},
               {"lead_id": 3, "mail": "B@X.test ", "name": "Bob"}]
    pages = {"1": records[:2], "2": records[2:]}  # then empty pages
    server = tiny_server(lambda request: (200, {}, {"items": pages.get(request.q("page") or "1",
                                                                       [])}))
    profile = {"name": "p", "entities": {"lead": {
        "collection": "/leads", "id_field": "lead_id", "fields": {"email": "mail"},
        "operations": ["list"],
        "list": {"items_path": "items", "pagination": {"style": "page", "page_param": "page"}}}}}
    api = driver_factory(profile, server.base_url)
    assert api.find_created("lead", {"email": "b@x.test"}, "anonymous") == [2, 3]
    assert api.find_created("lead", {"email": "b@x.test", "x": "Ann"}, "anonymous") == []
    assert api.find_created("contact", {"email": "b@x.test"}, "anonymous") is None
    assert not api.can_delete("lead")
    with pytest.raises(Exception, match=r"profile 'p' has no lead\.delete"):
        api.cleanup("lead", 2, "anonymous")
