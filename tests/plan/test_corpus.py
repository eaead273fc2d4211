"""The malformed-plan corpus: every broken plan or suite and the exact message users see.

Each case is `corpus/<name>.yaml`, or a folder `corpus/<name>/` whose entry is `plan.yaml`
(multi-file cases: a plan with included suites or a manual results file). The expected
output, paths relative to the corpus folder, is `corpus/<name>.expected`.

Regenerate after a deliberate wording change with `CRMQA_UPDATE_SNAPSHOTS=1 pytest
tests/plan/test_corpus.py`, then read the diff: the snapshots are the review.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crmqa.plan.loader import validate_paths

CORPUS = Path(__file__).parent / "corpus"
UPDATE = os.environ.get("CRMQA_UPDATE_SNAPSHOTS") == "1"


def _entries() -> list[str]:
    names = [p.stem for p in CORPUS.glob("*.yaml")]
    names += [p.name for p in CORPUS.iterdir() if p.is_dir()]
    return sorted(names)


def _entry_path(name: str) -> str:
    folder = CORPUS / name
    return f"{name}/plan.yaml" if folder.is_dir() else f"{name}.yaml"


def render_issues(name: str) -> str:
    """What `crmqa validate` prints for one corpus entry, run from the corpus folder."""
    issues = validate_paths([_entry_path(name)])
    return "\n".join(issue.format() for issue in issues) + "\n"


@pytest.mark.parametrize("name", _entries())
def test_corpus_message(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    actual = render_issues(name)
    expected_file = CORPUS / f"{name}.expected"
    if UPDATE or not expected_file.exists():
        expected_file.write_text(actual, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"wrote a new snapshot {expected_file.name}: review it and re-run")
    assert actual.strip(), "a corpus entry must produce at least one issue"
    assert actual == expected_file.read_text(encoding="utf-8")


def test_corpus_is_large_enough() -> None:
    assert len(_entries()) >= 45


def test_every_snapshot_has_an_entry() -> None:
    """A renamed entry must not leave a stale snapshot behind."""
    entries = set(_entries())
    stale = [p.name for p in CORPUS.glob("*.expected") if p.stem not in entries]
    assert stale == []


def test_messages_never_show_python_or_pydantic_text() -> None:
    """No repr, no pydantic boilerplate, no traceback in any snapshot."""
    forbidden = (
        "Input should be",
        "valid dictionary or instance",
        "Traceback",
        "Field required",
        "Extra inputs are not permitted",
        "Value error,",
        "ValidationError",
        "pydantic",
        "<class",
        "OpStep",
        "function-after",
    )
    for snapshot in CORPUS.glob("*.expected"):
        text = snapshot.read_text(encoding="utf-8")
        for needle in forbidden:
            assert needle not in text, f"{snapshot.name} shows {needle!r}"
