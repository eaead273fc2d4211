"""A pytest plugin `crmqa calibrate` loads into its runs: keep only the cases it names.

`-k` matches substrings (`LEAD-ADD-001` would also pick `UI-LEAD-ADD-001`), so calibration
names cases exactly, in the environment variable `CRMQA_CALIBRATE_CASES` (comma-separated case
ids). Without the variable every case runs.
"""

from __future__ import annotations

import os

import pytest

CASES_ENV = "CRMQA_CALIBRATE_CASES"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect every item whose case id is not in `CRMQA_CALIBRATE_CASES`."""
    wanted = os.environ.get(CASES_ENV)
    if wanted is None:
        return
    keep = {case_id for case_id in wanted.split(",") if case_id}
    selected = [item for item in items if item.name.split("[", 1)[0] in keep]
    deselected = [item for item in items if item.name.split("[", 1)[0] not in keep]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
