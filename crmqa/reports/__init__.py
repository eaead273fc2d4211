"""Report writers: verdict.json, defects.csv, summary.md/.html, Allure extras and HTML.

Public API:
- `write_run_outputs(run_dir, run_info, results, verdict, defects, plan) -> list[Path]`
- `read_results(run_dir) -> tuple[RunInfo, list[CaseResult]]`
- `render_verdict(console, verdict)` for the terminal
- `render_allure_html(run_dir) -> Path` (Allure 3 single-file report, offline)
- `STATUS_PREFIXES`, `BLOCKED_PREFIX`, `NOT_APPLICABLE_PREFIX`: how the plugin starts status
  messages so that Allure sorts results into crmqa's categories
"""

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
