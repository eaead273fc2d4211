"""`crmqa calibrate`: grouping faults that cannot interact, blaming failures, the matrix.

The logic is tested with a runner that answers like a sandbox would (a case fails when a
fault it can see is on); the slow test that runs the real command on plans/sandbox.yaml
against real sandboxes, reusing the clean run of tests/e2e/test_clean_plan.py, and asserts
that every seeded fault is caught with no false failure, is in that module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from crmqa.cli.calibrate import (
    UNIVERSE,
    Calibration,
    CalibrationIncomplete,
    RunResult,
    calibrate,
    case_surfaces,
    cases_for,
    check_grouping,
    expand,
    group_faults,
    overlap,
    result_key,
    step_surfaces,
    to_json,
    to_markdown,
)
from crmqa.cli.calibrate_surfaces import checking_surfaces, likelihood_order
from crmqa.core.results import CaseResult, Outcome
from crmqa.plan.loader import load_plan
from crmqa.sandbox.faults import BY_NAME, CATALOGUE, Fault

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX_PLAN = REPO_ROOT / "plans" / "sandbox.yaml"

TINY_PLAN = """\
id: tiny
name: tiny
system: {name: x}
target: sandbox
targets:
  sandbox:
    profile: sandbox
    base_url: "{{ env.CRMQA_SANDBOX_URL | default('http://127.0.0.1:9') }}"
    destructive_ok: true
cases:
  - id: SEARCH
    title: search
    steps: [{op: lead.search, with: {query: x}}]
  - id: EDIT
    title: edit
    steps: [{op: lead.update, with: {id: 1, data: {title: x}}}]
  - id: BOTH
    title: edit then search
    steps:
      - {op: lead.update, with: {id: 1, data: {title: x}}}
      - {op: lead.search, with: {query: x}}
  - id: CASES
    title: cases
    steps: [{op: case.update, with: {id: 1, data: {status: closed}}}]
  - id: PAGE
    title: a page
    steps: [{ui: open, target: lead_list}]
"""


def test_every_fault_touches_surfaces_that_exist() -> None:
    for fault in CATALOGUE:
        assert fault.touches, fault.name
        for pattern in fault.touches:
            assert expand([pattern]) & UNIVERSE, (fault.name, pattern)


def test_faults_sharing_a_surface_never_share_a_sandbox() -> None:
    groups = group_faults(CATALOGUE)
    check_grouping(groups)
    names = [fault.name for group in groups for fault in group]
    assert sorted(names) == sorted(BY_NAME)
    assert overlap(BY_NAME["search_case_sensitive"], BY_NAME["sql_injection_search"])
    assert overlap(BY_NAME["viewer_can_edit"], BY_NAME["contact_timestamps_no_zone"])
    assert not overlap(BY_NAME["case_status_skip"], BY_NAME["idor_leads"])
    # Far fewer sandboxes than faults, and the same grouping every time.
    assert len(groups) <= len(CATALOGUE) // 3
    assert [[f.name for f in g] for g in group_faults(CATALOGUE)] == \
        [[f.name for f in g] for g in groups]
    with pytest.raises(AssertionError, match="share a surface"):
        check_grouping([[BY_NAME["search_case_sensitive"], BY_NAME["slow_search"]]])


def test_case_surfaces_come_from_operations_screens_and_requests() -> None:
    plan = load_plan(SANDBOX_PLAN)
    by_id = {c.case.id: c for c in plan.cases}
    assert {"lead.create", "lead.search"} <= case_surfaces(by_id["LEAD-SEARCH-001"])
    assert case_surfaces(by_id["SEC-COOKIE-001"]) == {"http"}
    assert {"screen:lead_form", "screen:lead_detail"} <= case_surfaces(by_id["UI-LEAD-ADD-001"])
    assert "screen:login" in case_surfaces(by_id["SEC-LOCK-001"])
    chosen = cases_for(plan, expand(BY_NAME["case_status_skip"].touches))
    assert "CASE-WF-003" in chosen and "LEAD-ADD-001" not in chosen
    # a case section (`load:`) runs as one step that uses its inner steps' surfaces
    load = by_id["PERF-CONC-001"]
    assert step_surfaces(load)[-1] == {"lead.create", "lead.update", "lead.delete"}
    assert "PERF-CONC-001" in cases_for(plan, expand(BY_NAME["concurrent_writes_fail"].touches))


def _result(case_id: str, outcome: Outcome) -> CaseResult:
    return CaseResult(plan_id="tiny", case_id=case_id, title=case_id, category="functional",
                      module="m", severity="normal", priority="medium", outcome=outcome)


def _fault(name: str, *touches: str) -> Fault:
    return Fault(name, "functional", name, touches)


class Sandbox:
    """Answers like a sandbox: a case fails when a fault in `breaks[case]` is switched on."""

    def __init__(self, plan_ids: list[str], breaks: dict[str, set[str]]) -> None:
        self.plan_ids = plan_ids
        self.breaks = breaks
        self.calls: list[tuple[str, tuple[str, ...], list[str] | None]] = []

    def __call__(self, label: str, faults: Sequence[str], cases: Sequence[str] | None
                 ) -> RunResult:
        self.calls.append((label, tuple(faults), list(cases) if cases is not None else None))
        results = {}
        for case_id in cases if cases is not None else self.plan_ids:
            broken = self.breaks.get(case_id, set()) & set(faults)
            result = _result(case_id, Outcome.FAILED if broken else Outcome.PASSED)
            results[result_key(result)] = result
        return RunResult(label, tuple(faults), list(cases) if cases else None, results, 0.1, 0)


def _tiny(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "plan.yaml").write_text(TINY_PLAN, encoding="utf-8")
    return load_plan(tmp_path / "plan.yaml")


def test_failures_are_blamed_and_shared_cases_run_again_per_fault(tmp_path: Path) -> None:
    plan = _tiny(tmp_path)
    search = _fault("search_bug", "lead.search")
    edit = _fault("edit_bug", "lead.update")
    workflow = _fault("workflow_bug", "case.update")
    silent = _fault("silent_bug", "screen:lead_list")
    sandbox = Sandbox([c.case.id for c in plan.cases],
                      {"SEARCH": {"search_bug"}, "BOTH": {"search_bug", "edit_bug"},
                       "CASES": {"workflow_bug"}})
    result = calibrate(plan, sandbox, faults=[search, edit, workflow, silent], jobs=1)
    caught = {d.fault.name: d.caught_by for d in result.detections}
    assert caught == {"search_bug": ["BOTH", "SEARCH"], "edit_bug": ["BOTH"],
                      "workflow_bug": ["CASES"], "silent_bug": []}
    assert not result.ok  # silent_bug went uncaught
    assert result.clean_failures == []
    # The four faults share no surface: one sandbox, then BOTH again for each of its two, and
    # the fault nothing was blamed on alone (it may show where it did not declare).
    labels = [call[0] for call in sandbox.calls]
    assert labels == ["clean", "group-00.1", "group-00-alone-search_bug.1",
                      "group-00-alone-edit_bug.1", "group-00-silent_bug.1"]
    assert sandbox.calls[1][2] == ["SEARCH", "EDIT", "BOTH", "CASES", "PAGE"]
    assert sandbox.calls[2] == ("group-00-alone-search_bug.1", ("search_bug",), ["BOTH"])
    verdicts = {d.fault.name: (d.verdict, d.verdict_changed) for d in result.detections}
    assert verdicts["silent_bug"] == ("ACCEPTED", False)
    assert verdicts["search_bug"] == ("REJECTED", True)
    text = to_markdown(result)
    assert "| `silent_bug` | functional | **missed** |" in text
    assert to_json(result)["scores"] == {"functional": {"caught": 3, "seeded": 4}}


def test_a_clean_failure_fails_calibration(tmp_path: Path) -> None:
    plan = _tiny(tmp_path)
    sandbox = Sandbox([c.case.id for c in plan.cases], {"EDIT": {""}})

    def flaky(label: str, faults: Sequence[str], cases: Sequence[str] | None) -> RunResult:
        run = sandbox(label, (*faults, ""), cases)
        return RunResult(label, tuple(faults), run.cases, run.results, 0.1, 1)

    result: Calibration = calibrate(plan, flaky, faults=[_fault("x", "case.update")], jobs=1)
    assert result.clean_failures == ["EDIT"]
    assert not result.ok


def test_until_caught_stops_a_group_once_each_fault_is_caught(tmp_path: Path) -> None:
    plan = _tiny(tmp_path)
    search = _fault("search_bug", "lead.search")
    workflow = _fault("workflow_bug", "case.update")
    sandbox = Sandbox([c.case.id for c in plan.cases],
                      {"SEARCH": {"search_bug"}, "BOTH": {"search_bug"},
                       "CASES": {"workflow_bug"}})
    result = calibrate(plan, sandbox, faults=[search, workflow], until_caught=True, chunk=1)
    assert result.ok and result.until_caught
    # one case a run: the first most likely case of each fault in turn, then nothing more
    runs = [(label, cases) for label, _, cases in sandbox.calls[1:]]
    assert runs == [("group-00.1", ["SEARCH"]), ("group-00.2", ["CASES"])]
    assert {d.fault.name: d.caught_by for d in result.detections} == {
        "search_bug": ["SEARCH"], "workflow_bug": ["CASES"]}
    assert "least" in to_markdown(result)


def test_likelihood_order_puts_cases_that_check_the_surface_first() -> None:
    plan = load_plan(SANDBOX_PLAN)
    order = likelihood_order(plan, BY_NAME["case_status_skip"])
    by_id = {c.case.id: c for c in plan.cases}
    first = by_id[order[0]]
    assert "case.update" in checking_surfaces(first)
    assert str(first.case.category.value) == "functional"
    # every case that uses the surface is there, those that only set up through it last
    assert set(order) == {c.case.id for c in plan.cases if "case.update" in case_surfaces(c)}
    tiers = ["case.update" in checking_surfaces(by_id[c]) for c in order]
    assert tiers == sorted(tiers, reverse=True)


def test_a_run_without_results_leaves_its_faults_not_run_never_missed(tmp_path: Path) -> None:
    plan = _tiny(tmp_path)
    sandbox = Sandbox([c.case.id for c in plan.cases], {"CASES": {"workflow_bug"}})

    def broken(label: str, faults: Sequence[str], cases: Sequence[str] | None) -> RunResult:
        if "search_bug" in faults:
            raise CalibrationIncomplete("the sandbox did not start: attempt 1: timed out")
        return sandbox(label, faults, cases)

    result = calibrate(plan, broken, faults=[_fault("search_bug", "lead.search"),
                                             _fault("workflow_bug", "case.update"),
                                             _fault("edit_bug", "lead.search", "lead.update")])
    status = {d.fault.name: d.status for d in result.detections}
    assert status == {"search_bug": "not run", "workflow_bug": "caught", "edit_bug": "missed"}
    assert not result.complete
    text = to_markdown(result)
    assert "**not run**" in text and "the sandbox did not start" in text
    assert to_json(result)["faults"][0]["not_run"].endswith("timed out")


def test_a_failure_no_fault_explains_runs_again_with_each_fault_alone(tmp_path: Path) -> None:
    # SEARCH depends on PAGE, so a group with a lead.search fault runs PAGE too
    (tmp_path / "plan.yaml").write_text(TINY_PLAN.replace(
        "    title: search\n", "    title: search\n    depends_on: [PAGE]\n"), encoding="utf-8")
    plan = load_plan(tmp_path / "plan.yaml")
    sandbox = Sandbox([c.case.id for c in plan.cases], {"PAGE": {"edit_bug"}})
    result = calibrate(plan, sandbox, faults=[_fault("search_bug", "lead.search"),
                                             _fault("edit_bug", "lead.update", "screen:login")])
    # PAGE uses screen:lead_list, which neither fault declares; alone, edit_bug changes it
    assert {d.fault.name: d.caught_by for d in result.detections}["edit_bug"] == ["PAGE"]
    assert any("PAGE failed with edit_bug alone" in note for note in result.notes)
    alone = [call for call in sandbox.calls if "alone" in call[0]]
    assert sorted(call[1] for call in alone) == [("edit_bug",), ("search_bug",)]


def test_a_case_failing_in_any_clean_run_is_a_false_failure_and_never_blamed(
        tmp_path: Path) -> None:
    plan = _tiny(tmp_path)
    sandbox = Sandbox([c.case.id for c in plan.cases], {"SEARCH": {"search_bug"}})
    clean_calls = 0

    def flaky(label: str, faults: Sequence[str], cases: Sequence[str] | None) -> RunResult:
        nonlocal clean_calls
        run = sandbox(label, faults, cases)
        if not faults:
            clean_calls += 1
            if clean_calls == 2:  # SEARCH fails on the second clean sandbox only
                run.results[result_key(_result("SEARCH", Outcome.PASSED))] = _result(
                    "SEARCH", Outcome.FAILED)
        return run

    result = calibrate(plan, flaky, faults=[_fault("search_bug", "lead.search")], clean_runs=3)
    assert [call[0] for call in sandbox.calls[:3]] == ["clean.r1", "clean.r2", "clean.r3"]
    assert result.clean_failures == ["SEARCH (in 1 of 3 clean runs)"]
    assert [r["failures"] for r in result.clean_runs] == [[], ["SEARCH"], []]
    # the flaky case proves nothing about the fault
    assert result.detections[0].status == "missed" and not result.ok
    assert "run 2" in to_markdown(result) and to_json(result)["clean"]["runs"][1]["failures"]


def test_a_clean_run_without_results_is_an_environment_error(tmp_path: Path) -> None:
    plan = _tiny(tmp_path)

    def down(label: str, faults: Sequence[str], cases: Sequence[str] | None) -> RunResult:
        return RunResult(label, tuple(faults), None, {}, 0.1, 4, error="sandbox down")

    with pytest.raises(CalibrationIncomplete, match="clean run clean produced no results"):
        calibrate(plan, down, faults=[_fault("x", "case.update")])


def test_a_fault_masked_by_its_neighbour_runs_alone_on_all_its_cases(tmp_path: Path) -> None:
    """Two faults with no common surface can still hide each other: a case that uses both
    surfaces fails for the first fault, and with it on the second one's symptom never shows
    (the migration read through a search that misses records). The second fault, re-run
    alone only on the ambiguous case, passes there: it must then run alone on every case of
    its surfaces before it is called missed."""
    plan = _tiny(tmp_path)
    search = _fault("search_bug", "lead.search")
    owner = _fault("owner_bug", "lead.update")

    class Masking(Sandbox):
        def __call__(self, label: str, faults: Sequence[str], cases: Sequence[str] | None
                     ) -> RunResult:
            on = set(faults)
            self.breaks = {"BOTH": {"search_bug"} & on,
                           "EDIT": {"owner_bug"} & on if "search_bug" not in on else set()}
            return super().__call__(label, faults, cases)

    sandbox = Masking([c.case.id for c in plan.cases], {})
    result = calibrate(plan, sandbox, faults=[search, owner], jobs=1)
    caught = {d.fault.name: d.caught_by for d in result.detections}
    assert caught == {"search_bug": ["BOTH"], "owner_bug": ["EDIT"]}
    assert result.ok


def _run_folder(tmp_path: Path, plan, results: list[CaseResult], **info: str) -> Path:  # type: ignore[no-untyped-def]
    """A run folder as `crmqa run` writes it (run.json and one worker's results)."""
    from datetime import UTC, datetime

    from crmqa import __version__
    from crmqa.core.results import RunInfo

    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    fields = {"run_id": "r1", "plan_id": "tiny", "plan_name": "tiny", "plan_file": "plan.yaml",
              "target": "sandbox", "profile": "sandbox", "crmqa_version": __version__,
              "plan_digest": plan.digest(), **info}
    (run / "run.json").write_text(RunInfo(started_at=datetime.now(UTC), **fields)
                                  .model_dump_json(), encoding="utf-8")
    (run / "results" / "cases-gw0.jsonl").write_text(
        "".join(r.model_dump_json() + "\n" for r in results), encoding="utf-8")
    return run


def test_a_reused_clean_run_is_the_baseline_and_no_clean_run_is_made(tmp_path: Path) -> None:
    from crmqa.cli.calibrate_clean_run import reuse_clean_run

    plan = _tiny(tmp_path)
    ids = [c.case.id for c in plan.cases]
    # EDIT failed in the reused run: a false failure, never blamed on the fault that breaks it
    run = _run_folder(tmp_path, plan, [_result(i, Outcome.FAILED if i == "EDIT" else
                                               Outcome.PASSED) for i in ids])
    sandbox = Sandbox(ids, {"SEARCH": {"search_bug"}, "EDIT": {"edit_bug"}})
    result = calibrate(plan, sandbox, faults=[_fault("search_bug", "lead.search"),
                                             _fault("edit_bug", "case.update", "lead.update")],
                       clean_runs=0, reused_clean=[reuse_clean_run(plan, run)])
    assert not any(call[0].startswith("clean") for call in sandbox.calls)
    assert result.clean_failures == ["EDIT"]
    assert {d.fault.name: d.caught_by for d in result.detections}["search_bug"] == ["SEARCH"]
    assert {d.fault.name: d.caught_by for d in result.detections}["edit_bug"] == []
    assert result.clean_runs[0]["reused"] == "clean (reused r1)"
    assert "Clean results reused (--clean-run): clean (reused r1)" in to_markdown(result)


@pytest.mark.parametrize(("info", "drop", "message"), [
    ({"plan_digest": "0123456789abcdef"}, None, "its plan or suite files differ "
                                                "(plan digest 0123456789abcdef, now "),
    ({"plan_digest": ""}, None, "its plan or suite files differ (no plan digest"),
    ({"crmqa_version": "0.0.1"}, None, "made by crmqa 0.0.1, this is crmqa "),
    ({"selection": "SEARCH"}, None, "a selection ('SEARCH'), not the whole plan"),
    ({"profile": "bottlecrm"}, None, "with profile 'bottlecrm', not the sandbox"),
    ({}, "PAGE", "1 case(s) have no result (PAGE): the run was interrupted"),
])
def test_calibrate_refuses_a_clean_run_of_another_plan_or_crmqa_with_exit_3(
        tmp_path: Path, info: dict[str, str], drop: str | None, message: str) -> None:
    from click.testing import CliRunner

    from crmqa.cli.main import cli

    plan = _tiny(tmp_path)
    run = _run_folder(tmp_path, plan, [_result(c.case.id, Outcome.PASSED) for c in plan.cases
                                       if c.case.id != drop], **info)
    done = CliRunner().invoke(cli, ["calibrate", str(plan.path), "--clean-run", str(run),
                                    "--reports", str(tmp_path / "reports")])
    assert done.exit_code == 3, done.output
    assert "cannot stand in for a clean run" in done.output and message in done.output
    assert "run the plan again (crmqa run) or calibrate without --clean-run" in done.output
    assert "Traceback" not in done.output
    assert not (tmp_path / "reports").exists()  # refused before anything ran


def test_the_plan_digest_follows_the_plan_and_suite_files_not_where_they_lie(
        tmp_path: Path) -> None:
    suite = ("suite: {id: s, name: s, module: leads, category: functional}\n"
             "cases:\n  - id: SUITED\n    title: from a suite\n"
             "    steps: [{op: lead.search, with: {query: x}}]\n")
    digests = []
    for folder in ("a", "b"):
        (tmp_path / folder / "suites").mkdir(parents=True)
        (tmp_path / folder / "suites" / "s.yaml").write_text(suite, encoding="utf-8")
        (tmp_path / folder / "plan.yaml").write_text(
            TINY_PLAN.replace("cases:\n", "include: [suites/s.yaml]\ncases:\n", 1),
            encoding="utf-8")
        digests.append(load_plan(tmp_path / folder / "plan.yaml").digest())
    assert digests[0] == digests[1]  # the same files in another folder
    (tmp_path / "b" / "suites" / "s.yaml").write_text(suite.replace("from a", "from one"),
                                                      encoding="utf-8")
    assert load_plan(tmp_path / "b" / "plan.yaml").digest() != digests[0]
    (tmp_path / "a" / "plan.yaml").write_text(TINY_PLAN, encoding="utf-8")
    assert load_plan(tmp_path / "a" / "plan.yaml").digest() != digests[0]
