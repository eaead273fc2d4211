"""Writing a concluded run's report files into its run folder."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from crmqa.core.results import CaseResult, RunInfo
from crmqa.gates import Verdict, waiver_active
from crmqa.ledger import Defect
from crmqa.plan.models import Plan
from crmqa.reports.allure_extras import write_allure_extras
from crmqa.reports.allure_verdict import gate_table_html, write_allure_verdict
from crmqa.reports.run_folder import ALLURE_RESULTS_DIR, GATES_PAGE
from crmqa.reports.summary import build_summary, render_html, render_markdown

DEFECT_COLUMNS = (
    "id", "case", "title", "severity", "priority", "status", "first_seen", "last_seen",
    "fixed_in", "message", "waived", "waiver_owner", "waiver_expires", "params",
)


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def verdict_document(
    verdict: Verdict, run_info: RunInfo, results: Sequence[CaseResult] = ()
) -> dict[str, object]:
    """verdict.json's content: the decision (null when withheld, with why), exit code, gate
    table, counts, and the records the run left behind."""
    data = verdict.model_dump(mode="json")
    return {
        "run_id": run_info.run_id,
        "plan_id": run_info.plan_id,
        "target": run_info.target,
        "decision": data.pop("decision"),
        "headline": verdict.headline,
        "exit_code": data.pop("exit_code"),
        "withheld": data.pop("withheld"),
        **data,
        "left_behind": [
            {"case": r.case_id, **leftover.model_dump(mode="json")}
            for r in results
            for leftover in r.leftovers
        ],
    }


def _spreadsheet_safe(value: str) -> str:
    """Defuse a cell a spreadsheet would run as a formula (text may come from the CRM)."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def defects_csv(defects: Sequence[Defect], today: date) -> str:
    """defects.csv: one row per defect; waived ones flagged (waived=yes, owner, expiry)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DEFECT_COLUMNS)
    for defect in defects:
        waived = waiver_active(defect.waiver, today)
        row = [
            str(defect.id),
            defect.case_id,
            defect.title,
            defect.severity,
            defect.priority,
            defect.status.value,
            defect.first_seen_run,
            defect.last_seen_run,
            defect.fixed_in_run or "",
            " ".join(defect.message.split()),
            "yes" if waived else "no",
            defect.waiver.owner if defect.waiver else "",
            defect.waiver.expires if defect.waiver else "",
            json.dumps(defect.params, sort_keys=True, default=str) if defect.params else "",
        ]
        writer.writerow([_spreadsheet_safe(cell) for cell in row])
    return buffer.getvalue()


def gates_page(verdict: Verdict, run_info: RunInfo) -> str:
    """gates.html: the decision and the gate table alone, the Allure report's global
    attachment (its overview shows it beside the results), in the run's language."""
    return (
        f'<!DOCTYPE html>\n<html lang="{run_info.lang}"><head><meta charset="utf-8">'
        "<style>body{font:14px/1.4 system-ui,sans-serif}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccd;padding:.2rem .5rem;text-align:left}</style></head>"
        f"<body>{gate_table_html(verdict, run_info.lang)}</body></html>\n"
    )


def write_run_outputs(
    run_dir: Path,
    run_info: RunInfo,
    results: Sequence[CaseResult],
    verdict: Verdict,
    defects: Sequence[Defect],
    plan: Plan,
) -> list[Path]:
    """Write verdict.json, defects.csv, summary.md, summary.html, gates.html, the Allure
    extras and the verdict as an Allure result, in the run's language (`run_info.lang`).

    `defects` are the ones to list (the ledger's open defects after the run, or its whole
    history for the plan). Returns the paths written.
    """
    run_dir = Path(run_dir)
    today = verdict.evaluated_on or date.today()
    summary = build_summary(run_info, results, verdict, defects, plan, run_dir, run_info.lang)
    files = {
        run_dir / "verdict.json": json.dumps(
            verdict_document(verdict, run_info, results), indent=2, ensure_ascii=False
        ) + "\n",
        run_dir / "defects.csv": defects_csv(summary.defects, today),
        run_dir / "summary.md": render_markdown(summary),
        run_dir / "summary.html": render_html(summary),
        run_dir / GATES_PAGE: gates_page(verdict, run_info),
    }
    for path, text in files.items():
        _write_atomically(path, text)
    extras = write_allure_extras(run_dir / ALLURE_RESULTS_DIR, run_info)
    extras.append(write_allure_verdict(run_dir / ALLURE_RESULTS_DIR, verdict, run_info))
    return [*files, *extras]
