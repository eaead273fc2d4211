"""The engine end to end, through the API driver, against the real sandbox CRM."""

from __future__ import annotations

import contextlib
import re
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crmqa.core.results import BrokenKind, Outcome
from crmqa.engine import Engine, RecordingReporter, history_id
from crmqa.plan.loader import load_plan

pytestmark = pytest.mark.slow


PLAN = """\
id: engine-e2e
name: Engine end to end
system: {{name: sandbox}}
target: sandbox
targets:
  sandbox:
    profile: {profile}
    base_url: "{base_url}"
    timeout_s: 5
    destructive_ok: true
    identities:
      default: {{default_username: sales, password_env: CRMQA_SANDBOX_PASSWORD}}
      admin: {{default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD}}
      viewer: {{default_username: viewer, password_env: CRMQA_SANDBOX_PASSWORD}}
data:
  vars: {{ids: [1]}}
cases:
{cases}
"""

LEAD = ('{first_name: Ann, last_name: "Zq{{ unique | replace(\'-\', \'\') }}", '
        'email: "{{ fake.unique_email() }}"}')


@pytest.fixture
def password_env(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMQA_SANDBOX_PASSWORD", sandbox.password)


RunCase = Callable[..., Any]


@pytest.fixture
def run_case(tmp_path: Path, sandbox: Any, password_env: None) -> Iterator[RunCase]:
    """Write a plan with the given cases, load it, run one case; engines close afterwards."""
    engines: list[Engine] = []

    def run(cases: str, case_id: str | None = None, *, base_url: str | None = None,
            profile: str = "sandbox", params: dict[str, Any] | None = None,
            **engine_kwargs: Any) -> Any:
        text = PLAN.format(profile=profile, base_url=base_url or sandbox.base_url,
                           cases=textwrap.indent(textwrap.dedent(cases), "  "))
        (tmp_path / "plan.yaml").write_text(text)
        loaded = load_plan(tmp_path / "plan.yaml")
        reporter = engine_kwargs.pop("reporter", None) or RecordingReporter()
        engine = Engine(loaded, None, tmp_path / "run", "gw0", reporter=reporter,
                        **engine_kwargs)
        engines.append(engine)
        case = loaded.case(case_id) if case_id else loaded.cases[0]
        return engine.run_case(case, params)

    yield run
    for engine in engines:
        engine.close()


def _leads_named(api: requests.Session, base_url: str, last_name: str) -> int:
    answer = api.get(f"{base_url}/api/leads", params={"q": last_name}, timeout=5).json()
    return int(answer["total"])


def test_create_search_update_delete_passes(run_case):
    result = run_case(f"""
        - id: CRUD
          title: Lead lifecycle
          steps:
            - name: create
              op: lead.create
              with: {{data: {LEAD}}}
              expect: {{outcome: ok, record: {{first_name: Ann, status: new}}}}
              save: {{lead_id: record.id, last: record.last_name}}
            - name: search by lower-case name
              op: lead.search
              with: {{query: "{{{{ saved.last | lower }}}}"}}
              expect: {{outcome: ok, total: 1, body: [{{path: "records[0].id",
                        equals: "{{{{ saved.lead_id }}}}"}}]}}
            - op: lead.update
              with: {{id: "{{{{ saved.lead_id }}}}", data: {{status: qualified}}}}
              expect: {{outcome: ok, record: {{status: qualified}}}}
            - op: lead.delete
              with: {{id: "{{{{ saved.lead_id }}}}"}}
              expect: {{outcome: ok}}
            - op: lead.get
              with: {{id: "{{{{ saved.lead_id }}}}"}}
              expect: {{outcome: not_found}}
    """)
    assert result.outcome is Outcome.PASSED, result.message
    assert [s.outcome for s in result.steps] == [Outcome.PASSED] * 5
    assert result.history_id == history_id("engine-e2e", "CRUD", {})
    # retain-on-failure: a passing case keeps no request dumps
    assert all(not s.attachments for s in result.steps)


def test_failed_expectation_message_skips_the_rest_and_cleans_up(run_case, sandbox, admin_api):
    result = run_case(f"""
        - id: FAIL
          title: Search finds the lead twice (it should not)
          steps:
            - op: lead.create
              with: {{data: {LEAD}}}
              save: {{last: record.last_name}}
            - name: search by lower-case name
              op: lead.search
              with: {{query: "{{{{ saved.last | lower }}}}"}}
              expect: {{total: 2}}
            - op: lead.list
    """)
    assert result.outcome is Outcome.FAILED
    last = result.steps[1].checks[0]
    assert result.message.startswith(
        "step 2 'search by lower-case name' (lead.search): total: expected 2, got 1 — "
        "GET /api/leads?q=zq")
    assert result.message.endswith(" -> 200")
    assert last.expected == 2 and last.actual == 1
    assert result.steps[2].outcome is Outcome.SKIPPED
    # the failing step keeps its evidence, with the token redacted
    evidence = result.steps[1].attachments[0].text
    assert "Authorization: [redacted]" in evidence and "Bearer" not in evidence
    # the lead created in step 1 was deleted even though the case failed
    query = result.message.split("q=", 1)[1].split(" ", 1)[0]
    assert _leads_named(admin_api, sandbox.base_url, query) == 0


def test_environment_problem_when_the_server_is_down(run_case):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_case(f"""
        - id: DOWN
          title: Server down
          steps:
            - op: lead.create
              with: {{data: {LEAD}}}
    """, base_url=f"http://127.0.0.1:{port}")
    assert result.outcome is Outcome.BROKEN
    assert result.broken_kind is BrokenKind.ENVIRONMENT
    assert "cannot connect" in result.message and "connection refused" in result.message


def test_not_applicable_for_a_missing_capability(run_case, tmp_path):
    (tmp_path / "mini.yaml").write_text(textwrap.dedent("""\
        name: mini
        auth: {scheme: token_endpoint, path: /api/auth/token}
        entities:
          lead: {collection: /api/leads, operations: [create, get]}
    """))
    result = run_case("""
        - id: IMPORT
          title: Import needs import
          steps:
            - op: lead.create
              with: {data: {first_name: A}}
            - op: lead.import
              with: {rows: []}
    """, profile="mini.yaml")
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert result.message == "target 'sandbox' (profile 'mini') does not support lead.import"
    assert result.steps == []  # nothing ran


def test_needs_lists_extra_capabilities(run_case):
    result = run_case("""
        - id: NEEDS
          title: Needs a screen the profile lacks
          needs: ["screen:mass_mail"]
          steps:
            - op: lead.list
    """)
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert "screen:mass_mail" in result.message


def test_setup_failure_blocks_the_case(run_case):
    result = run_case("""
        - id: BLOCKED
          title: Edit a lead that cannot be created
          setup:
            - op: lead.create
              with: {data: {first_name: A, last_name: B, email: not-an-email}}
              expect: {outcome: ok}
          steps:
            - op: lead.list
    """)
    assert result.outcome is Outcome.BLOCKED
    assert result.message == (
        "setup failed: setup step 1 (lead.create): outcome: expected 'ok', got 'rejected' "
        "(email: not a valid email address) — POST /api/leads -> 422")
    assert [s.outcome for s in result.steps] == [Outcome.FAILED, Outcome.SKIPPED]


def test_depends_on_a_case_that_did_not_pass(run_case):
    cases = """
        - id: FIRST
          title: first
          steps: [{op: lead.list}]
        - id: SECOND
          title: second
          depends_on: [FIRST]
          steps: [{op: lead.list}]
    """
    outcomes = {"FIRST": Outcome.FAILED}
    result = run_case(cases, "SECOND", outcome_of=outcomes.get)
    assert result.outcome is Outcome.BLOCKED
    assert result.message == "depends on FIRST, which did not pass (failed)"
    outcomes["FIRST"] = Outcome.PASSED
    assert run_case(cases, "SECOND", outcome_of=outcomes.get).outcome is Outcome.PASSED


def test_template_error_at_run_time_is_a_test_defect(run_case):
    result = run_case("""
        - id: TPL
          title: Bad template value
          steps:
            - op: lead.get
              with: {id: "{{ vars.ids[3] }}"}
    """)
    assert result.outcome is Outcome.BROKEN
    assert result.broken_kind is BrokenKind.TEST_DEFECT
    assert result.message.startswith("step 1 (lead.get): ") and "vars.ids[3]" in result.message


def test_save_path_that_finds_nothing(run_case):
    result = run_case("""
        - id: SAVE
          title: Save a field that is not there
          steps:
            - op: lead.list
              save: {x: "records[0].nope"}
    """)
    assert result.outcome is Outcome.BROKEN and result.broken_kind is BrokenKind.TEST_DEFECT
    assert "save x: path 'records[0].nope' found nothing" in result.message


def test_wait_until_success_and_timeout(run_case):
    result = run_case(f"""
        - id: WAIT
          title: Wait for the lead to show up
          steps:
            - op: lead.create
              with: {{data: {LEAD}}}
              save: {{last: record.last_name}}
            - name: indexed
              wait_until:
                step: {{op: lead.search, with: {{query: "{{{{ saved.last }}}}"}}}}
                success: {{total: 1}}
                timeout_s: 2
                interval_s: 0.1
            - name: never three
              wait_until:
                step: {{op: lead.search, with: {{query: "{{{{ saved.last }}}}"}}}}
                success: {{total: 3}}
                failure: {{outcome: error}}
                timeout_s: 0.3
                interval_s: 0.1
    """)
    assert result.steps[1].outcome is Outcome.PASSED
    assert result.outcome is Outcome.FAILED
    assert result.message.startswith("step 3 'never three' (wait until (lead.search)): "
                                     "not met within 0.3 s (")
    # one attempt or several, by how fast the machine is: the bound is time, not a count
    assert re.search(r"\(\d+ attempts?\); last: total: expected 3, got 1 — GET /api/leads\?q=",
                     result.message), result.message


def test_cleanup_also_on_keyboard_interrupt(run_case, sandbox, admin_api):
    class InterruptingReporter(RecordingReporter):
        @contextlib.contextmanager
        def step(self, title: str) -> Iterator[Any]:
            if title.endswith(". boom"):
                raise KeyboardInterrupt
            with super().step(title) as slot:
                yield slot

    marker = "Interrupted" + str(id(object()))
    with pytest.raises(KeyboardInterrupt):
        run_case(f"""
            - id: INT
              title: Interrupted
              steps:
                - op: lead.create
                  with: {{data: {{first_name: A, last_name: {marker},
                          email: "{{{{ fake.unique_email() }}}}"}}}}
                  expect: {{outcome: ok}}
                - name: boom
                  op: lead.list
        """, reporter=InterruptingReporter())
    assert _leads_named(admin_api, sandbox.base_url, marker) == 0


def test_import_rows_are_cleaned_up(run_case, sandbox, admin_api):
    marker = "Imported" + str(id(object()))
    result = run_case(f"""
        - id: IMP
          title: Import two rows, one bad
          steps:
            - op: lead.import
              with:
                rows:
                  - {{first_name: A, last_name: {marker}, email: "{{{{ fake.unique_email() }}}}"}}
                  - {{first_name: B, last_name: {marker}, email: broken}}
              expect:
                outcome: ok
                body: [{{path: imported, equals: 1}}, {{path: "rejected[0].row", equals: 3}},
                       {{path: "rejected[0].errors.email", exists: true}}]
    """)
    assert result.outcome is Outcome.PASSED, result.message
    assert _leads_named(admin_api, sandbox.base_url, marker) == 0


@pytest.mark.parametrize(("mode", "kept"), [("on", True), ("off", False),
                                            ("retain-on-failure", False)])
def test_evidence_modes_on_a_passing_step(run_case, mode, kept):
    reporter = RecordingReporter()
    result = run_case("""
        - id: EV
          title: evidence
          steps: [{op: lead.list, expect: {outcome: ok}}]
    """, evidence=mode, reporter=reporter)
    assert bool(result.steps[0].attachments) is kept
    assert bool(reporter.attachments) is kept


def test_convert_export_identities_and_raw_requests(run_case, sandbox, admin_api):
    marker = "Convert" + str(id(object()))
    result = run_case(f"""
        - id: CONV
          title: Convert a qualified lead, export it, and check roles
          steps:
            - op: lead.create
              with: {{data: {{first_name: Cy, last_name: {marker}, status: qualified,
                      email: "{{{{ fake.unique_email() }}}}"}}}}
              save: {{lead_id: record.id}}
            - op: lead.export
              with: {{query: {marker}}}
              expect:
                outcome: ok
                count: 1
                body: [{{path: "rows[0].last_name", equals: {marker}}},
                       {{path: content, matches: "^first_name,last_name,email"}}]
            - op: lead.convert
              with: {{id: "{{{{ saved.lead_id }}}}"}}
              expect: {{outcome: ok, body: [{{path: record.contact_id, type: integer}}]}}
              save: {{contact_id: record.contact_id}}
            - name: a viewer cannot write
              op: lead.create
              as: viewer
              with: {{data: {{first_name: V, last_name: W,
                      email: "{{{{ fake.unique_email() }}}}"}}}}
              expect: {{outcome: forbidden}}
            - name: health without credentials
              request: {{path: /api/health, auth: false}}
              expect:
                status: 200
                headers: {{content-type: json}}
                schema: {{type: object, required: [status]}}
                body: [{{path: status, equals: ok}}]
    """)
    assert result.outcome is Outcome.PASSED, result.message
    assert _leads_named(admin_api, sandbox.base_url, marker) == 0
    contacts = admin_api.get(f"{sandbox.base_url}/api/contacts", params={"q": marker},
                             timeout=5).json()
    assert contacts["total"] == 0  # the contact the conversion made was deleted too


def test_history_id_differs_by_parameters():
    assert history_id("p", "c", {"a": 1}) == history_id("p", "c", {"a": 1})
    assert history_id("p", "c", {"a": 1}) != history_id("p", "c", {"a": 2})
    assert history_id("p", "c", None) == history_id("p", "c", {})


def test_seeded_fault_is_caught_with_a_readable_message(tmp_path, sandbox_factory, monkeypatch):
    faulty = sandbox_factory(["search_case_sensitive"])
    monkeypatch.setenv("CRMQA_SANDBOX_PASSWORD", faulty.password)
    cases = """
        - id: LEAD-SEARCH
          title: Search ignores letter case
          steps:
            - op: lead.create
              with: {data: {first_name: Jo, last_name: Smithson,
                            email: "{{ fake.unique_email() }}"}}
            - name: search by lower-case name
              op: lead.search
              with: {query: smithson}
              expect: {total: 1}
    """
    text = PLAN.format(profile="sandbox", base_url=faulty.base_url,
                       cases=textwrap.indent(textwrap.dedent(cases), "  "))
    (tmp_path / "plan.yaml").write_text(text)
    loaded = load_plan(tmp_path / "plan.yaml")
    engine = Engine(loaded, None, tmp_path / "run", "gw0")
    try:
        result = engine.run_case(loaded.cases[0])
    finally:
        engine.close()
    assert result.outcome is Outcome.FAILED
    assert result.message == ("step 2 'search by lower-case name' (lead.search): total: "
                              "expected 1, got 0 — GET /api/leads?q=smithson -> 200")
