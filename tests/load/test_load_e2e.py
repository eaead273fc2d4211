"""Load cases end to end: real Locust (child processes) against the real sandbox.

Every load is bounded: at most 8 users for at most 6 seconds (the abort case is planned for
60 s and must stop within a few), on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import textwrap
import uuid

import pytest

from crmqa.core.results import BrokenKind, LeftOutBy, Outcome
from crmqa.load.stats import read_timeline, tally

from .conftest import RunLoad, leads_named

pytestmark = pytest.mark.slow


def _word() -> str:
    return "Ld" + uuid.uuid4().hex[:10]


def _lifecycle(word: str, indent: int) -> str:
    """A task that creates, reads, edits and deletes a lead (nothing stays behind)."""
    task = f"""
- name: lifecycle
  steps:
    - op: lead.create
      with: {{data: {{first_name: "{{{{ fake.first_name() }}}}", last_name: {word},
                     email: "{{{{ fake.unique_email() }}}}"}}}}
      save: {{id: record.id}}
    - op: lead.get
      with: {{id: "{{{{ saved.id }}}}"}}
      expect: {{outcome: ok, record: {{last_name: {word}}}}}
    - op: lead.update
      with: {{id: "{{{{ saved.id }}}}", data: {{status: contacted}}}}
    - op: lead.delete
      with: {{id: "{{{{ saved.id }}}}"}}"""
    return textwrap.indent(task, " " * indent)


def test_load_within_its_slos_passes_with_evidence_and_leaves_nothing(run_load: RunLoad,
                                                                       sandbox) -> None:
    word = _word()
    run = run_load(f"""
        - id: LOAD-OK
          title: Four users search and keep leads; every write can be read back
          category: performance
          load:
            scenarios:
              - name: searchers
                think_time: {{min_s: 0.05, max_s: 0.15}}
                tasks:
                  - name: search
                    steps:
                      - op: lead.search
                        with: {{query: a}}
              - name: editors
                as: sales
                think_time: 0.1
                tasks:{_lifecycle(word, 18)}
                  - name: keep one
                    steps:
                      - op: lead.create
                        with: {{data: {{first_name: Kept, last_name: {word},
                                       email: "{{{{ fake.unique_email() }}}}"}}}}
            shape: {{users: 4, spawn_rate: 4, duration_s: 5}}
            slo:
              - operation: lead.search
                p95_ms: 5000
                error_rate_pct: 1
              - scenario: editors
                max_ms: 10000
                error_rate_pct: 1
              - users_held: 4
                min_rps: 1
            recovery: {{writes_kept: true}}
    """)
    result = run.result
    assert result.outcome is Outcome.PASSED, result.message
    checks = run.checks()
    assert {"p95 lead.search", "error rate lead.search", "max scenario editors",
            "error rate scenario editors", "throughput all requests", "users held all requests",
            "writes kept"} <= set(checks)
    assert checks["users held all requests"].actual == "4 users"
    assert " read back " in checks["writes kept"].actual
    # live progress: users, req/s, p95 and errors, while it ran
    assert any(" users " in line and "req/s" in line and "p95" in line and "errors" in line
               for line in run.progress), run.progress
    # Locust's own files and crmqa's chart are kept in the run folder, and attached
    folder = run.load_dir
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust.json", "locust.html",
                 "timeline.jsonl", "locustfile.py", "load.png"):
        assert (folder / name).exists(), name
    assert (folder / "load.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    names = {a.name for step in result.steps for a in step.attachments}
    assert "load chart: LOAD-OK" in names and "Locust locust_stats.csv" in names
    chart = next(a for step in result.steps for a in step.attachments if a.mime_type ==
                 "image/png")
    assert chart.show_in_summary
    # the locustfile is data and holds no secret
    assert sandbox.password not in (folder / "locustfile.py").read_text()
    stats = json.loads((folder / "locust.json").read_text())
    assert {(row["method"], row["name"]) for row in stats} >= {
        ("searchers", "lead.search"), ("editors", "lead.create"), ("editors", "lead.delete")}
    # every lead the load created (kept ones included) is gone again
    assert not result.leftovers
    assert leads_named(sandbox.base_url, sandbox.password, word) == 0


def test_slow_search_fails_the_p95_gate_and_abort_on_fail_stops_the_load(
        run_load: RunLoad, sandbox_factory) -> None:
    slow = sandbox_factory(["slow_search"])
    run = run_load("""
        - id: LOAD-SEARCH
          title: Three users searching leads get answers within half a second (p95)
          category: performance
          load:
            scenarios:
              - name: searchers
                think_time: 0
                tasks:
                  - name: search
                    steps:
                      - op: lead.search
                        with: {query: son}
            shape: {users: 3, duration_s: 60}
            slo:
              - operation: lead.search
                p95_ms: 500
                abort_on_fail: true
                abort_after_s: 1
              - operation: lead.search
                error_rate_pct: 1
    """, base_url=slow.base_url)
    result = run.result
    assert result.outcome is Outcome.FAILED, result.message
    checks = run.checks()
    # the failing SLO: slow_search's 1.2 s answers are caught by the p95 gate...
    p95 = checks["p95 lead.search"]
    assert p95.ok is False and p95.expected == "≤ 500 ms"
    found = re.search(r"p95 of lead.search is ([\d,]+) ms, above the SLO of 500 ms",
                      p95.message)
    assert found is not None and int(found.group(1).replace(",", "")) >= 1000
    assert checks["error rate lead.search"].ok  # ...while every search did answer
    # ...and abort_on_fail stopped a load planned for 60 s within seconds
    abort = checks["abort_on_fail"]
    assert abort.ok is False and "aborted after" in abort.actual
    assert result.message.startswith("step 1 (load): load aborted after")
    seconds = [json.loads(line)["t"] for line in
               (run.load_dir / "timeline.jsonl").read_text().splitlines()]
    assert max(seconds) < 30, "the load was planned for 60 s and had to stop long before"


def test_concurrency_fault_is_caught_by_load_and_missed_one_at_a_time(
        run_load: RunLoad, locked_sandbox) -> None:
    faulty = locked_sandbox
    word = _word()
    cases = f"""
        - id: SAVE-ONE
          title: Saving a lead works (one request at a time)
          steps:
            - op: lead.create
              with: {{data: {{first_name: One, last_name: {word},
                             email: "{{{{ fake.unique_email() }}}}"}}}}
              expect: {{outcome: ok}}
            - op: lead.create
              with: {{data: {{first_name: Two, last_name: {word},
                             email: "{{{{ fake.unique_email() }}}}"}}}}
              expect: {{outcome: ok}}
        - id: SAVE-MANY
          title: Eight users saving leads together see no errors
          category: performance
          load:
            scenarios:
              - name: editors
                think_time: 0
                tasks:{_lifecycle(word, 18)}
            shape: {{users: 8, duration_s: 3}}
            slo:
              - error_rate_pct: 1
    """
    single = run_load(cases, "SAVE-ONE", base_url=faulty.base_url)
    assert single.result.outcome is Outcome.PASSED, single.result.message
    many = run_load(cases, "SAVE-MANY", base_url=faulty.base_url)
    assert many.result.outcome is Outcome.FAILED, many.result.message
    assert "error rate of all requests is" in many.result.message
    # crmqa's own timeline has every failed request; Locust's CSV can lack the last moment's
    # (docs/load.md), so it is read for the reason only when it has rows
    assert tally(read_timeline(many.load_dir / "timeline.jsonl")).failures > 0
    failures = (many.load_dir / "locust_failures.csv").read_text()
    if len(failures.splitlines()) > 1:
        assert "outcome: expected 'ok', got 'error'" in failures, failures
    # what the failing load created is cleaned up all the same
    assert not many.result.leftovers, many.result.leftovers
    left = leads_named(faulty.base_url, faulty.password, word)
    assert left == 0, (left, (many.load_dir / "locust-single.log").read_text()[-2000:])


def test_capacity_search_finds_the_users_where_writes_start_failing(
        run_load: RunLoad, locked_sandbox) -> None:
    faulty = locked_sandbox
    run = run_load(f"""
        - id: CAPACITY
          title: Lead saving holds at least 6 users
          category: performance
          load:
            scenarios:
              - name: editors
                think_time: 0
                tasks:{_lifecycle(_word(), 18)}
            shape: {{start_users: 2, step_users: 4, step_s: 2, max_users: 14,
                     required_users: 6}}
            slo:
              - error_rate_pct: 1
    """, base_url=faulty.base_url)
    result = run.result
    capacity = run.checks()["capacity"]
    assert result.outcome is Outcome.FAILED, result.message
    assert capacity.actual.startswith("2 users; the next step broke it: error rate")
    assert "capacity is 2 users, below the 6 required" in result.message
    phases = {json.loads(line)["phase"] for line in
              (run.load_dir / "timeline.jsonl").read_text().splitlines()}
    # step 2 broke the SLO: the search ends (step 3 only just began), step 4 never runs
    assert "step 2" in phases and "step 4" not in phases


def test_lost_acknowledged_writes_and_recovery_are_judged(run_load: RunLoad, sandbox) -> None:
    word = _word()
    run = run_load(f"""
        - id: RECOVERY
          title: After a burst, the CRM answers in time again and keeps every saved lead
          category: performance
          load:
            scenarios:
              - name: burst
                think_time: 0.05
                tasks:
                  - name: save and lose
                    steps:
                      - op: lead.create
                        with: {{data: {{first_name: Gone, last_name: {word},
                                       email: "{{{{ fake.unique_email() }}}}"}}}}
                        save: {{id: record.id}}
                      # behind the load's back (not a canonical delete): a "lost" write
                      - request: {{method: DELETE, path: "/api/leads/{{{{ saved.id }}}}"}}
            shape: {{users: 2, duration_s: 2}}
            slo:
              - p95_ms: 5000
            recovery: {{within_s: 3, window_s: 1, writes_kept: true}}
            client: requests  # Locust's HttpUser way: the API driver's own requests session
    """)
    checks = run.checks()
    assert checks["recovery"].ok, checks["recovery"]
    assert checks["recovery"].actual.startswith("SLOs held again after")
    assert checks["writes kept"].ok is False
    assert "the CRM acknowledged creating cannot be read back: lead" in run.result.message
    phases = [json.loads(line)["phase"] for line in
              (run.load_dir / "timeline.jsonl").read_text().splitlines()]
    assert phases[0] == "load" and "recovery" in phases


def test_master_and_two_local_workers(run_load: RunLoad, sandbox,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMQA_LOAD_WORKERS", "2")  # the master takes a free port itself
    word = _word()
    run = run_load(f"""
        - id: DISTRIBUTED
          title: Four users on two Locust workers
          category: performance
          load:
            scenarios:
              - name: editors
                think_time: 0.1
                tasks:
                  - name: keep
                    steps:
                      - op: lead.create
                        with: {{data: {{first_name: W, last_name: {word},
                                       email: "{{{{ fake.unique_email() }}}}"}}}}
            shape: {{users: 4, spawn_rate: 4, duration_s: 4}}
            slo:
              - error_rate_pct: 1
                users_held: 4
    """)
    assert run.result.outcome is Outcome.PASSED, run.result.message
    folder = run.load_dir
    assert (folder / "locust-master.log").exists()
    assert (folder / "locust-worker-1.log").exists() and (folder / "locust-worker-2.log").exists()
    # each worker ran users that created leads, and journaled them itself
    journals = [path for path in folder.glob("journal-*.jsonl") if path.read_text().strip()]
    assert len(journals) == 2, journals
    assert leads_named(sandbox.base_url, sandbox.password, word) == 0


def test_load_needs_load_ok_and_a_confirmation_off_this_machine(run_load: RunLoad) -> None:
    case = """
        - id: GUARDED
          title: Guarded load
          category: performance
          load:
            scenarios:
              - name: s
                tasks: [{name: t, steps: [{op: lead.search, with: {query: a}}]}]
            shape: {users: 1, duration_s: 1}
    """
    no_flag = run_load(case, load_ok=False).result
    assert no_flag.outcome is Outcome.NOT_APPLICABLE
    assert "set load_ok: true on the target" in no_flag.message
    # 192.0.2.x is TEST-NET-1: nothing is sent, the case is refused before any request
    elsewhere = run_load(case, base_url="http://192.0.2.10:8000").result
    assert elsewhere.outcome is Outcome.NOT_APPLICABLE
    assert elsewhere.left_out_by is LeftOutBy.TARGET
    assert "--crmqa-confirm-load" in elsewhere.message
    assert "crmqa run --confirm-load" in elsewhere.message
    assert elsewhere.steps == []



def test_a_plan_mistake_seen_only_under_load_breaks_the_case_and_stops_it(
        run_load: RunLoad) -> None:
    run = run_load("""
        - id: LOAD-BROKEN
          title: A save path that finds nothing in a good answer
          category: performance
          load:
            scenarios:
              - name: readers
                think_time: 0.1
                tasks:
                  - name: read
                    steps:
                      - op: lead.search
                        with: {query: a}
                        save: {first: "records[0].no_such_field"}
            shape: {users: 2, duration_s: 60}
            slo:
              - error_rate_pct: 1
    """)
    result = run.result
    assert result.outcome is Outcome.BROKEN, result.message
    assert result.broken_kind is BrokenKind.TEST_DEFECT
    assert "the load stopped: lead.search: save first" in result.message
    assert "a mistake in the plan that showed only while it ran" in result.message
    lines = (run.load_dir / "timeline.jsonl").read_text().splitlines()
    assert max(json.loads(line)["t"] for line in lines) < 30
