"""Whatever a plan holds, the loader answers with issues, never with a traceback.

Every value of a valid plan and its suite is replaced, one at a time, by values of each YAML
kind; each variant must either load or raise PlanError whose issues all have positions.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from crmqa.core.errors import PlanError
from crmqa.plan.loader import load_plan
from tests.plan.test_plan_loader import LEADS, PLAN, SECURITY, write

ODD_VALUES: list[Any] = [None, 7, "text", [], {"x": 1}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(data)
    holder = changed
    for element in path[:-1]:
        holder = holder[element]
    holder[path[-1]] = value
    return changed


def _variants(text: str) -> list[tuple[str, Any]]:
    import textwrap

    data = yaml.safe_load(textwrap.dedent(text))
    variants = []
    for path in _paths(data):
        for odd in ODD_VALUES:
            variants.append(("/".join(map(str, path)) + f"={odd!r}", _replace(data, path, odd)))
    return variants


def _rejected(folder: Path) -> bool:
    try:
        load_plan(folder / "plan.yaml")
    except PlanError as error:
        assert error.issues
        for issue in error.issues:
            assert issue.position is not None, issue.message
            assert "Input should" not in issue.message and "object at 0x" not in issue.message
        return True
    return False


@pytest.mark.parametrize("document", ["plan", "suite"])
def test_no_value_of_any_kind_breaks_the_loader(tmp_path: Path, document: str) -> None:
    source = PLAN if document == "plan" else LEADS
    variants = _variants(source)
    assert len(variants) > 100
    rejected = 0
    for index, (label, data) in enumerate(variants):
        folder = tmp_path / str(index)
        write(folder, "suites/security.yaml", SECURITY)
        write(folder, "manual.yaml", "results: {}\n")
        dumped = yaml.safe_dump(data, sort_keys=False)
        if document == "plan":
            write(folder, "plan.yaml", dumped)
            write(folder, "suites/leads.yaml", LEADS)
        else:
            write(folder, "plan.yaml", PLAN)
            write(folder, "suites/leads.yaml", dumped)
        try:
            rejected += _rejected(folder)
        except Exception as error:  # report which variant broke, then fail
            pytest.fail(f"{label}: {type(error).__name__}: {error}")
    assert rejected > len(variants) // 2  # most odd values must be refused, not swallowed
