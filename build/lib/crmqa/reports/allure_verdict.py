"""The acceptance verdict as an Allure test result, so that managers see it in Allure.

Allure knows tests, not acceptance decisions: without this, a REJECTED run whose failures are
few still opens on a big green percentage. The verdict is written as one more result, first in
its own suite "Acceptance verdict": its status is the decision (ACCEPTED passed, REJECTED and
SUSPENDED failed, no verdict broken), each gate row is a step (passed, failed, or skipped when
it does not apply), and the gate table is its description. It works the same in Allure 2 and
Allure 3, which both read any `*-result.json`.

The file name is derived from the run id, so `crmqa gates` (re-gating a run) replaces it; the
history id is derived from plan and target, so Allure's history shows the verdict over runs.
Its words are in the run's language (`RunInfo.lang`); the suite keeps one English name, so
that a campaign's runs in different languages stay one history.
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
from crmqa.reports.i18n import (
    Gettext,
    decision_word,
    gate_result_word,
    gate_texts,
    gettext_for,
    reasons,
    withheld_reason,
)
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


def _gate_step(row: GateResult, start: int, stop: int, _: Gettext) -> dict[str, Any]:
    shown = gate_texts(row, _)
    values = {"gate": shown.name, "actual": shown.actual, "required": shown.required}
    step: dict[str, Any] = {
        "name": _("%(gate)s — %(actual)s (required %(required)s)") % values,
        "status": _gate_status(row),
        "stage": "finished",
        "start": start,
        "stop": stop,
        "parameters": [{"name": _("Required"), "value": shown.required},
                       {"name": _("Actual"), "value": shown.actual}],
    }
    if shown.detail or not row.passed:
        step["statusDetails"] = {
            "message": shown.detail or _("required %(required)s, actual %(actual)s") % values}
    return step


def _headings(_: Gettext) -> list[str]:
    return [_("Gate"), _("Required"), _("Actual"), _("Result"), _("Detail")]


def _gate_cells(row: GateResult, _: Gettext) -> list[str]:
    shown = gate_texts(row, _)
    return [shown.name, shown.required, shown.actual, gate_result_word(row, _), shown.detail]


def _title(verdict: Verdict, _: Gettext) -> str:
    return f"{decision_word(verdict, _)} (" + _("exit code %(code)s") % {
        "code": verdict.exit_code} + ")"


def gate_table_html(verdict: Verdict, lang: str = "en") -> str:
    """The decision, its reasons and the gate table as an HTML fragment (every value
    escaped): the verdict's description in Allure and its global attachment."""
    _ = gettext_for(lang)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _gate_cells(row, _))
        + "</tr>"
        for row in verdict.gate_results
    )
    lines = "".join(f"<li>{html.escape(reason)}</li>" for reason in reasons(verdict, _))
    withheld = (f"<p>{html.escape(withheld_reason(verdict.withheld, _))}</p>"
                if verdict.decision is None and verdict.withheld else "")
    head = "".join(f"<th>{html.escape(heading)}</th>" for heading in _headings(_))
    return (
        f"<h3>{html.escape(_title(verdict, _))}</h3>{withheld}"
        + (f"<ul>{lines}</ul>" if lines else "")
        + f"<table><thead><tr>{head}</tr></thead><tbody>" + rows + "</tbody></table>"
    )


def gate_table_markdown(verdict: Verdict, lang: str = "en") -> str:
    """The decision, its reasons and the gate table as Markdown (cells escaped)."""
    _ = gettext_for(lang)
    cell = markdown_cell
    lines = [f"**{cell(_title(verdict, _))}**", ""]
    if verdict.decision is None and verdict.withheld:
        lines += [withheld_reason(verdict.withheld, _), ""]
    lines += [f"- {reason}" for reason in reasons(verdict, _)]
    lines += ["", "| " + " | ".join(_headings(_)) + " |", "|---|---|---|---|---|"]
    lines += [
        "| " + " | ".join(cell(value) for value in _gate_cells(row, _)) + " |"
        for row in verdict.gate_results
    ]
    return "\n".join(lines) + "\n"


def verdict_result(verdict: Verdict, run_info: RunInfo) -> dict[str, Any]:
    """The Allure result (allure-results JSON format) that carries the verdict, its words in
    the run's language."""
    _ = gettext_for(run_info.lang)
    stop = _millis(run_info.finished_at, _millis(run_info.started_at, 0))
    start = _millis(run_info.started_at, stop)
    history = hashlib.md5(
        f"crmqa:verdict:{run_info.plan_id}:{run_info.target}".encode()).hexdigest()
    status = _STATUS[verdict.decision] if verdict.decision is not None else "broken"
    failing = verdict.failing()
    headline = decision_word(verdict, _)
    message = headline
    if verdict.decision is None and verdict.withheld:
        message += f": {withheld_reason(verdict.withheld, _)}"
    elif failing:
        message += ": " + "; ".join(reasons(verdict, _))
    return {
        "uuid": verdict_result_uuid(run_info.run_id),
        "historyId": history,
        "testCaseId": history,
        "name": _("Acceptance verdict: %(decision)s") % {"decision": headline},
        "fullName": f"crmqa.verdict.{run_info.plan_id}",
        "status": status,
        "statusDetails": {"message": message},
        "stage": "finished",
        "start": start,
        "stop": stop,
        "description": gate_table_markdown(verdict, run_info.lang),
        "descriptionHtml": gate_table_html(verdict, run_info.lang),
        "labels": [
            {"name": "parentSuite", "value": VERDICT_SUITE},
            {"name": "suite", "value": run_info.plan_name or run_info.plan_id},
            {"name": "epic", "value": VERDICT_SUITE},
            {"name": "severity", "value": "blocker"},
            {"name": "tag", "value": "verdict"},
            {"name": "framework", "value": "crmqa"},
        ],
        "parameters": [
            {"name": _("Plan"), "value": run_info.plan_id},
            {"name": _("Target"), "value": run_info.target},
            {"name": _("Run"), "value": run_info.run_id},
        ],
        "steps": [_gate_step(row, start, stop, _) for row in verdict.gate_results],
    }


def write_allure_verdict(results_dir: Path, verdict: Verdict, run_info: RunInfo) -> Path:
    """Write (or replace) the verdict's result file in `results_dir`."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{verdict_result_uuid(run_info.run_id)}-result.json"
    path.write_text(json.dumps(verdict_result(verdict, run_info), indent=2,
                               ensure_ascii=False) + "\n", encoding="utf-8")
    return path
