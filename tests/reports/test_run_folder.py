"""Reading a run folder back: every result, whatever text the CRM put into it."""

from __future__ import annotations

from pathlib import Path

from crmqa.core.results import CaseResult, Outcome
from crmqa.reports.run_folder import read_case_results


def test_results_with_unicode_line_separators_read_back_whole(tmp_path: Path) -> None:
    # U+2028, U+2029 and U+0085 are line breaks to str.splitlines, not to JSON lines
    message = "name 'Ann\u2028Lee\u0085' shown as 'Ann\u2029Lee'"
    results = [CaseResult(plan_id="p", case_id=f"C{n}", title="t", category="functional",
                          module="m", severity="normal", priority="medium",
                          outcome=Outcome.FAILED, message=message) for n in range(2)]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "cases-gw0.jsonl").write_text(
        "".join(r.model_dump_json() + "\n" for r in results), encoding="utf-8")
    read = read_case_results(tmp_path)
    assert [r.case_id for r in read] == ["C0", "C1"]
    assert read[0].message == message
