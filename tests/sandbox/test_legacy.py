"""The sandbox's legacy extract: the committed fixture is exactly what the sandbox migrates."""

from __future__ import annotations

from pathlib import Path

from crmqa.sandbox.legacy import write_legacy_csv

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_extract_is_the_one_the_sandbox_migrates(tmp_path: Path) -> None:
    fresh = write_legacy_csv(tmp_path / "legacy_leads.csv")
    committed = ROOT / "fixtures" / "migration" / "legacy_leads.csv"
    assert committed.read_bytes() == fresh.read_bytes(), (
        "regenerate it: crmqa sandbox --export-legacy fixtures/migration/legacy_leads.csv")
