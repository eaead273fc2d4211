"""Where a data file a plan names is found: one rule for every driver and for validation.

A relative path (`fixtures/leads/import.csv`) is looked up from the plan's folder, then from
each of its parent folders in turn, then from the working folder. So a suite names its fixtures
relative to the project (`plans/x.yaml` and `suites/leads/y.yaml` both reach `fixtures/...`),
whichever plan includes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def search_folders(plan_folder: Path) -> list[Path]:
    """The folders a relative data path is tried in, in order, without repeats."""
    folders = [plan_folder, *plan_folder.resolve().parents, Path.cwd()]
    unique: dict[Path, None] = {}
    for folder in folders:
        unique.setdefault(folder, None)
    return list(unique)


def _candidates(value: str, folders: list[Path]) -> Iterator[Path]:
    path = Path(value)
    if path.is_absolute():
        yield path
        return
    for folder in folders:
        yield folder / path


def find_data_file(value: str, folders: list[Path]) -> Path | None:
    """The file `value` names, or None when it is in none of `folders`."""
    for candidate in _candidates(value, folders):
        if candidate.is_file():
            return candidate
    return None


def missing_file_message(value: str, folders: list[Path]) -> str:
    """Why a data file was not found, naming where it was looked for."""
    if Path(value).is_absolute():
        return f"data file {value} does not exist"
    shown = ", ".join(str(folder) for folder in folders[:3])
    more = f" and {len(folders) - 3} parent folder(s)" if len(folders) > 3 else ""
    return f"data file '{value}' not found (looked in {shown}{more})"
