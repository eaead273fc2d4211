"""Figures a case marks for the summary (a load's charts): embedded in summary.html, so the
page still opens from disk and loads nothing, and linked from summary.md."""

from __future__ import annotations

import base64
import re

from crmqa.core.results import Attachment, StepResult
from crmqa.reports import write_run_outputs
from tests.reports.conftest import Concluded, case

# A 1x1 PNG: enough to prove the bytes reach the page unchanged.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def test_marked_images_are_embedded_and_linked(concluded: Concluded) -> None:
    chart = concluded.run_dir / "evidence" / "PERF-1" / "load" / "load.png"
    chart.parent.mkdir(parents=True)
    chart.write_bytes(PIXEL)
    step = StepResult(number=1, name="load", kind="load", outcome="passed", attachments=[
        Attachment(name="load chart: PERF-1", mime_type="image/png", path=str(chart),
                   show_in_summary=True),
        Attachment(name="screenshot", mime_type="image/png", path=str(chart)),  # not marked
    ])
    results = [*concluded.results, case("PERF-1", "passed", category="performance",
                                        title="Ten users <search>", steps=[step])]
    write_run_outputs(concluded.run_dir, concluded.run_info, results, concluded.verdict,
                      concluded.defects, concluded.plan)
    page = (concluded.run_dir / "summary.html").read_text(encoding="utf-8")
    assert "img-src data:" in page  # the page's own CSP lets embedded images in, nothing else
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources == ["data:image/png;base64," + base64.b64encode(PIXEL).decode()]
    assert "PERF-1 — Ten users &lt;search&gt;: load chart: PERF-1" in page
    markdown = (concluded.run_dir / "summary.md").read_text(encoding="utf-8")
    assert "## Figures (1)" in markdown
    assert "(evidence/PERF-1/load/load.png)" in markdown


def test_no_figures_no_section(concluded: Concluded) -> None:
    write_run_outputs(concluded.run_dir, concluded.run_info, concluded.results,
                      concluded.verdict, concluded.defects, concluded.plan)
    assert "Figures" not in (concluded.run_dir / "summary.html").read_text(encoding="utf-8")
