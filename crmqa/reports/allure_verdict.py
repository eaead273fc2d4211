"""The acceptance verdict as an Allure test result, so that managers see it in Allure.

Allure knows tests, not acceptance decisions: without this, a REJECTED run whose failures are
few still opens on a big green percentage. The verdict is written as one more result, first in
its own suite "Acceptance verdict": its status is the decision (ACCEPTED passed, REJECTED and
SUSPENDED failed, no verdict broken), each gate row is a step (passed, failed, or skipped when
it does not apply), and the gate table is its description. It works the same in Allure 2 and
Allure 3, which both read any `*-result.json`.

The file name is derived from the run id, so `crmqa gates` (re-gating a run) replaces it; the
history id is derived from plan and target, so Allure's history shows the verdict over runs.
"""

from __future__ import annotations

import hashlib
import html
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from crmqa.core.results import RunInfo
from crmqa.gates import Decision, GateResult, Verdict
from crmqa.reports.markdown import markdown_cell

VERDICT_SUITE = "Acceptance verdict"

_STATUS = {Decision.ACCEPTED: "passed", Decision.REJECTED: "failed",
           Decision.SUSPENDED: "failed"}


def verdict_result_uuid(run_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmqa:verdict:{run_id}"))


def _millis(moment: datetime | None, fallback: int) -> int:
    return int(moment.timestamp() * 1000) if moment is not None else fallback


def _gate_status(row: GateResult) -> str:
    if not row.applicable:
        return "skipped"
    return "passed" if row.passed else "failed"


def _gate_word(row: GateResult) -> str:
    """The result column of a gate row, as summary.md and summary.html write it."""
    return "n/a" if not row.applicable else ("PASS" if row.passed else "FAIL")


def _gate_step(row: GateResult, start: int, stop: int) -> dict[str, Any]:
    required = f"required {row.required}, actual {row.actual}"
    step: dict[str, Any] = {
        "name": f"{row.name} — {row.actual} (required {row.required})",
        "status": _gate_status(row),
        "stage": "finished",
        "start": start,
        "stop": stop,
        "parameters": [{"name": "required", "value": row.required},
                       {"name": "actual", "value": row.actual}],
    }
    if row.detail or not row.passed:
        step["statusDetails"] = {"message": row.detail or required}
    return step


def _gate_table_html(verdict: Verdict) -> str:
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in (
            row.name, row.required, row.actual, _gate_word(row), row.detail,
        )) + "</tr>"
        for row in verdict.gate_results
    )
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in verdict.reasons)
    withheld = (f"<p>{html.escape(verdict.withheld.reason)}</p>"
                if verdict.decision is None and verdict.withheld else "")
    return (
        f"<h3>{html.escape(verdict.headline)} (exit code {verdict.exit_code})</h3>{withheld}"
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + "<table><thead><tr><th>gate</th><th>required</th><th>actual</th><th>result</th>"
        "<th>detail</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )


def _gate_table_markdown(verdict: Verdict) -> str:
    cell = markdown_cell
    lines = [f"**{verdict.headline}** (exit code {verdict.exit_code})", ""]
    if verdict.decision is None and verdict.withheld:
        lines += [verdict.withheld.reason, ""]
    lines += [f"- {reason}" for reason in verdict.reasons]
    lines += ["", "| gate | required | actual | result | detail |", "|---|---|---|---|---|"]
    lines += [
        f"| {cell(row.name)} | {cell(row.required)} | {cell(row.actual)} | "
        f"{_gate_word(row)} | {cell(row.detail)} |"
        for row in verdict.gate_results
    ]
    return "\n".join(lines) + "\n"


def verdict_result(verdict: Verdict, run_info: RunInfo) -> dict[str, Any]:
    """The Allure result (allure-results JSON format) that carries the verdict."""
    stop = _millis(run_info.finished_at, _millis(run_info.started_at, 0))
    start = _millis(run_info.started_at, stop)
    history = hashlib.md5(
        f"crmqa:verdict:{run_info.plan_id}:{run_info.target}".encode()).hexdigest()
    status = _STATUS[verdict.decision] if verdict.decision is not None else "broken"
    failing = verdict.failing()
    message = verdict.headline
    if verdict.decision is None and verdict.withheld:
        message += f": {verdict.withheld.reason}"
    elif failing:
        message += ": " + "; ".join(f"{row.name} {row.actual} (required {row.required})"
                                    for row in failing if row.applicable)
    return {
        "uuid": verdict_result_uuid(run_info.run_id),
        "historyId": history,
        "testCaseId": history,
        "name": f"Acceptance verdict: {verdict.headline}",
        "fullName": f"crmqa.verdict.{run_info.plan_id}",
        "status": status,
        "statusDetails": {"message": message},
        "stage": "finished",
        "start": start,
        "stop": stop,
        "description": _gate_table_markdown(verdict),
        "descriptionHtml": _gate_table_html(verdict),
        "labels": [
            {"name": "parentSuite", "value": VERDICT_SUITE},
            {"name": "suite", "value": run_info.plan_name or run_info.plan_id},
            {"name": "epic", "value": VERDICT_SUITE},
            {"name": "severity", "value": "blocker"},
            {"name": "tag", "value": "verdict"},
            {"name": "framework", "value": "crmqa"},
        ],
        "parameters": [
            {"name": "plan", "value": run_info.plan_id},
            {"name": "target", "value": run_info.target},
            {"name": "run", "value": run_info.run_id},
        ],
        "steps": [_gate_step(row, start, stop) for row in verdict.gate_results],
    }


def write_allure_verdict(results_dir: Path, verdict: Verdict, run_info: RunInfo) -> Path:
    """Write (or replace) the verdict's result file in `results_dir`."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{verdict_result_uuid(run_info.run_id)}-result.json"
    path.write_text(json.dumps(verdict_result(verdict, run_info), indent=2,
                               ensure_ascii=False) + "\n", encoding="utf-8")
    return path
