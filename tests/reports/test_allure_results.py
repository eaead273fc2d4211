"""The Allure results of a run keep their content: names, statuses, steps, labels, links,
parameters, attachments and history ids, case by case.

tests/reports/allure_golden/expected.json was written by allure-pytest (crmqa's reporter
before it wrote Allure results itself), for the cases of allure_golden/plan.yaml: one of
each outcome, every kind of label, a parameter, setup, teardown, a skipped step and evidence.
The test runs the same plan, plus an ordinary pytest test in the same session (allure-pytest
still reports that one), and compares what a reader of the report sees. Only what differs from
run to run is left out: uuids, times, host and thread, attachment file names (their content
is compared instead), the stack line allure-pytest put under a step's message, and the
pytest source line of a skip.

To write expected.json anew:
    CRMQA_UPDATE_ALLURE_GOLDEN=1 pytest tests/reports/test_allure_results.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).parent / "allure_golden"
EXPECTED = GOLDEN / "expected.json"
_VARYING_LABELS = {"host", "thread"}


def normalized_result(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What a reader sees of one Allure result, without what changes from run to run."""
    out = {key: value for key, value in data.items()
           if key not in ("uuid", "start", "stop", "steps", "attachments", "labels",
                          "parameters")}
    out["labels"] = sorted(
        [label["name"], "*" if label["name"] in _VARYING_LABELS else label["value"]]
        for label in data.get("labels", []))
    if data.get("status") == "skipped" and "trace" in data.get("statusDetails", {}):
        # pytest's location of the skip call, not something the report's reader needs
        out["statusDetails"] = {"message": data["statusDetails"]["message"]}
    if "parameters" in data:
        out["parameters"] = [p for p in data["parameters"] if p["name"] not in ("run", "Run")]
    out["steps"] = [_normalized_step(step, folder) for step in data.get("steps", [])]
    out["attachments"] = [_attachment(a, folder) for a in data.get("attachments", [])]
    return out


def _normalized_step(step: dict[str, Any], folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"name": step["name"], "status": step.get("status")}
    details = step.get("statusDetails") or {}
    if details.get("message"):
        out["message"] = details["message"]
    out["steps"] = [_normalized_step(inner, folder) for inner in step.get("steps", [])]
    out["attachments"] = [_attachment(a, folder) for a in step.get("attachments", [])]
    if step.get("parameters"):
        out["parameters"] = step["parameters"]
    return out


def _attachment(attachment: dict[str, Any], folder: Path) -> dict[str, Any]:
    source = folder / attachment["source"]
    assert source.is_file(), f"attachment {attachment['name']!r} has no file {source.name}"
    text = source.read_text(encoding="utf-8", errors="replace")
    return {"name": attachment["name"], "type": attachment["type"],
            "extension": source.suffix, "first_line": text.partition("\n")[0]}


def _without_digits(text: str) -> str:
    # A run of digits is one `#`: a shared sandbox's ids grow from 99 to 100 between runs.
    return re.sub(r"\d+", "#", text)


def read_allure_results(folder: Path) -> dict[str, dict[str, Any]]:
    """Every result of an allure-results folder, by name (+ parameters), normalized."""
    found: dict[str, dict[str, Any]] = {}
    for path in folder.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        params = ",".join(f"{p['name']}={p['value']}" for p in data.get("parameters", [])
                          if p["name"] not in ("run", "Run"))
        key = f"{data['name']} [{params}]"
        assert key not in found, f"two results for {key}"
        found[key] = normalized_result(data, folder)
    # Record ids in names and messages: the sandbox numbers records as it goes.
    return _digits_masked(found)


_EXACT = {"historyId", "testCaseId", "crmqa_history_id"}


def _digits_masked(value: Any) -> Any:
    if isinstance(value, str):
        return _without_digits(value)
    if isinstance(value, dict):
        return {_without_digits(k): v if k in _EXACT else _digits_masked(v)
                for k, v in value.items()}
    if isinstance(value, list) and len(value) == 2 and str(value[0]) in _EXACT:
        return value  # a label
    if isinstance(value, list | tuple):
        return [_digits_masked(v) for v in value]
    return value


@pytest.mark.slow
def test_allure_results_keep_their_content(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("plan.yaml", "ordinary_check.py"):
        shutil.copy(GOLDEN / name, tmp_path / name)
    env = {**os.environ, "CRMQA_SANDBOX_URL": sandbox.base_url,
           "CRMQA_SANDBOX_PASSWORD": sandbox.password, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "plan.yaml", "ordinary_check.py", "-q",
         "--crmqa-reports", "reports", "--crmqa-run-id", "golden", "-p", "no:cacheprovider",
         "-p", "no:randomly", "-c", os.devnull, "--rootdir", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # REJECTED
    results_dir = tmp_path / "reports" / "golden" / "allure-results"
    seen = read_allure_results(results_dir)
    for extra in ("categories.json", "environment.properties", "executor.json"):
        assert (results_dir / extra).is_file(), extra
    if os.environ.get("CRMQA_UPDATE_ALLURE_GOLDEN"):
        EXPECTED.write_text(json.dumps(seen, indent=1, sort_keys=True, ensure_ascii=False)
                            + "\n", encoding="utf-8")
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert sorted(seen) == sorted(expected)
    for key, result in expected.items():
        assert seen[key] == result, key


def test_crmqa_passes_on_every_hook_of_allure_pytests_listener() -> None:
    """An allure-pytest upgrade that adds or drops a listener hook must be looked at: the
    wrapper that keeps allure-pytest for ordinary tests passes on the hooks it knows."""
    from allure_pytest.listener import AllureListener

    from crmqa.pytest_plugin.allure_bridge import WRAPPED_HOOKS, listener_hooks

    assert listener_hooks(AllureListener) == WRAPPED_HOOKS


def test_steps_are_recorded_with_crmqa_outcomes_and_evidence_files(tmp_path: Path) -> None:
    from crmqa.core.results import Attachment, Outcome, StepResult
    from crmqa.reports.allure_case import AllureSteps

    steps = AllureSteps(tmp_path)
    with steps.step("1. create") as scope:
        steps.attach(Attachment(name="dump", text="GET /x -> 500"))
        steps.attach(Attachment(name="odd", mime_type="application/x-odd", text="?"))
        scope.set_result(StepResult(number=1, name="create", kind="op",
                                    outcome=Outcome.BROKEN, message="it broke"))
    with steps.step("2. read") as scope:
        scope.set_result(StepResult(number=2, name="read", kind="op",
                                    outcome=Outcome.BLOCKED, message=""))
    record = steps.take()
    assert steps.take().steps == []  # each case starts afresh
    first, second = record.steps
    assert (first["status"], second["status"]) == ("broken", "skipped")
    assert first["statusDetails"]["message"].endswith(": it broke\n")
    assert second["statusDetails"]["message"].endswith(": blocked\n")
    assert first["start"] <= first["stop"]
    dump, odd = first["attachments"]
    assert (dump["type"], odd["type"]) == ("text/plain", "text/plain")
    assert odd["source"].endswith("-attachment.txt")
    assert (tmp_path / dump["source"]).read_text() == "GET /x -> 500"
    assert not list(tmp_path.glob("*.tmp"))


def test_results_are_written_in_batches_each_file_whole(tmp_path: Path) -> None:
    from crmqa.reports.allure_case import write_result, write_results

    folder = tmp_path / "allure-results"  # made when the first batch comes
    batch = [{"uuid": f"u{i}", "name": f"case {i}", "status": "passed"} for i in range(3)]
    written = write_results(folder, batch)
    written.append(write_result(folder, {"uuid": "u3", "name": "case 3", "status": "broken"}))
    assert [p.name for p in written] == [f"u{i}-result.json" for i in range(4)]
    assert [json.loads(p.read_text(encoding="utf-8"))["name"] for p in written] == [
        f"case {i}" for i in range(4)]
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in written]


@pytest.mark.parametrize(("lang", "names"), [
    ("en", ["1. setup: lead.create", "2. create", "3. cleanup: clean up created records"]),
    ("zh", ["1. 准备: lead.create", "2. 创建", "3. 清理记录: 清理创建的记录"]),
    ("ru", ["1. подготовка: lead.create", "2. create", "3. уборка: удаление созданных записей"]),
], ids=["en", "zh", "ru"])
def test_case_steps_crmqa_words_are_named_in_the_runs_language(
    tmp_path: Path, lang: str, names: list[str],
) -> None:
    """The phase and the steps crmqa adds itself go through the catalogue, the suite's step
    names through its translations (no Russian one here: as written)."""
    from crmqa.core.results import CLEANUP_STEP_NAME, Outcome, StepResult
    from crmqa.plan.models import Case
    from crmqa.reports.allure_case import AllureSteps, CaseIdentity, case_result

    case = Case.model_validate({
        "id": "A-1", "title": "Create", "translations": {"zh": {"steps": {"create": "创建"}}},
        "steps": [{"name": "create", "request": {"method": "GET", "path": "/"}}]})
    steps = AllureSteps(tmp_path)
    for number, phase, name in ((1, "setup", "lead.create"), (2, "step", "create"),
                                (3, "cleanup", CLEANUP_STEP_NAME)):
        title = f"{number}. " + (f"{phase}: " if phase != "step" else "") + name
        with steps.step(title) as scope:
            scope.set_result(StepResult(number=number, phase=phase, name=name, kind="op",
                                        outcome=Outcome.PASSED))
    data = case_result(case, "h", {}, CaseIdentity("a#b", "a", [], ()), steps.take(),
                       status="passed", status_details=None, start=0, stop=1, result=None,
                       lang=lang)
    assert [step["name"] for step in data["steps"]] == names
