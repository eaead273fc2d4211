"""Report writers: verdict.json, defects.csv, summary.md/.html, Allure extras and HTML.

Public API:
- `write_run_outputs(run_dir, run_info, results, verdict, defects, plan) -> list[Path]`
- `read_results(run_dir) -> tuple[RunInfo, list[CaseResult]]`
- `render_verdict(console, verdict)` for the terminal
- `render_allure_html(run_dir) -> Path` (Allure 3 single-file report, offline)
- `STATUS_PREFIXES`, `BLOCKED_PREFIX`, `NOT_APPLICABLE_PREFIX`: how the plugin starts status
  messages so that Allure sorts results into crmqa's categories
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmqa.reports.allure_extras import (
        BLOCKED_PREFIX,
        NOT_APPLICABLE_PREFIX,
        STATUS_PREFIXES,
        allure_categories,
        environment_properties,
        public_url,
        write_allure_extras,
    )
    from crmqa.reports.allure_html import (
        ReportGenerationFailed,
        ReportToolMissing,
        read_single_file_report,
        render_allure_html,
    )
    from crmqa.reports.console import gate_table, render_verdict
    from crmqa.reports.outputs import defects_csv, verdict_document, write_run_outputs
    from crmqa.reports.run_folder import RunFolderError, read_results, read_run_info
    from crmqa.reports.summary import build_summary, render_html, render_markdown

# Names are imported from their module on first use: crmqa.reports.allure_case is imported by
# every pytest worker, and importing this package must not bring the gates, the ledger and the
# document writers with it.
_MODULES: dict[str, str] = {
    "BLOCKED_PREFIX": "crmqa.reports.allure_extras",
    "NOT_APPLICABLE_PREFIX": "crmqa.reports.allure_extras",
    "ReportGenerationFailed": "crmqa.reports.allure_html",
    "ReportToolMissing": "crmqa.reports.allure_html",
    "RunFolderError": "crmqa.reports.run_folder",
    "STATUS_PREFIXES": "crmqa.reports.allure_extras",
    "allure_categories": "crmqa.reports.allure_extras",
    "build_summary": "crmqa.reports.summary",
    "defects_csv": "crmqa.reports.outputs",
    "environment_properties": "crmqa.reports.allure_extras",
    "gate_table": "crmqa.reports.console",
    "public_url": "crmqa.reports.allure_extras",
    "read_results": "crmqa.reports.run_folder",
    "read_run_info": "crmqa.reports.run_folder",
    "read_single_file_report": "crmqa.reports.allure_html",
    "render_allure_html": "crmqa.reports.allure_html",
    "render_html": "crmqa.reports.summary",
    "render_markdown": "crmqa.reports.summary",
    "render_verdict": "crmqa.reports.console",
    "verdict_document": "crmqa.reports.outputs",
    "write_allure_extras": "crmqa.reports.allure_extras",
    "write_run_outputs": "crmqa.reports.outputs",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BLOCKED_PREFIX",
    "NOT_APPLICABLE_PREFIX",
    "STATUS_PREFIXES",
    "ReportGenerationFailed",
    "ReportToolMissing",
    "RunFolderError",
    "allure_categories",
    "build_summary",
    "defects_csv",
    "environment_properties",
    "gate_table",
    "public_url",
    "read_results",
    "read_run_info",
    "read_single_file_report",
    "render_allure_html",
    "render_html",
    "render_markdown",
    "render_verdict",
    "verdict_document",
    "write_allure_extras",
    "write_run_outputs",
]
