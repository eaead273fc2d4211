"""Cases as written: the raw mapping, the file and data path it sits at, and its model.

Rules read cases through `CaseSource`, so that a problem in a case is positioned in the file
that holds it (the plan or an included suite), whatever the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from crmqa.core.errors import PlanIssue
from crmqa.plan.models import Case, Category
from crmqa.plan.templating import has_template
from crmqa.plan.yaml_source import DataPath, PositionMap

__all__ = ["PHASES", "CaseSource", "as_list", "template_strings"]

#: The step lists of a case, in the order they run.
PHASES = ("setup", "steps", "teardown")


def as_list(value: Any) -> list[Any]:
    """`value` when it is a list, else an empty list (the models report the wrong type)."""
    return value if isinstance(value, list) else []


def template_strings(
    value: Any, path: DataPath, *, skip: tuple[str, ...] = ()
) -> list[tuple[DataPath, str]]:
    """Every string with template markup inside `value`, with its data path.

    Walks with a stack, not recursion (in no particular order); `skip` names keys of `value`
    itself to leave out. Paths are built only for containers and templated strings.
    """
    if isinstance(value, str):
        return [(path, value)] if has_template(value) else []
    found: list[tuple[DataPath, str]] = []
    stack: list[tuple[Any, DataPath]] = [(value, path)]
    while stack:
        current, where = stack.pop()
        items: Any
        if isinstance(current, dict):
            items = current.items()
            if skip and where == path:
                items = [(key, item) for key, item in items if key not in skip]
        elif isinstance(current, list):
            items = enumerate(current)
        else:
            continue
        for key, item in items:
            kind = type(item)
            if kind is str:
                if "{" in item and has_template(item):
                    found.append(((*where, key), item))
            elif kind is dict or kind is list:
                stack.append((item, (*where, key)))
    return found


@dataclass(eq=False)
class CaseSource:
    """A case as written: raw mapping (suite defaults filled in), where it is, its model."""

    raw: dict[str, Any]
    path: DataPath
    positions: PositionMap
    suite_id: str | None = None
    suite_path: Path | None = None  # None for the plan's own cases
    model: Case | None = field(default=None)
    generator: str | None = None  # the `generate:` section that made it, None if written

    @property
    def id(self) -> str | None:
        """The case id as written, when it is text."""
        value = self.raw.get("id")
        return value if isinstance(value, str) else None

    @property
    def category(self) -> str:
        """The case's category (from the model when it validated)."""
        if self.model is not None:
            return self.model.category.value
        value = self.raw.get("category", Category.FUNCTIONAL.value)
        return value if isinstance(value, str) else ""

    def steps(self, phase: str) -> list[Any]:
        """The raw steps of one phase (setup, steps, teardown)."""
        return as_list(self.raw.get(phase))

    @cached_property
    def templates(self) -> list[tuple[DataPath, str]]:
        """Every templated string of the case with its full data path (walked once)."""
        return template_strings(self.raw, self.path)

    @cached_property
    def parameter_sets(self) -> list[dict[Any, Any]]:
        """The case's parameter sets that are mappings."""
        return [entry for entry in as_list(self.raw.get("parameters")) if isinstance(entry, dict)]

    @cached_property
    def parameter_names(self) -> set[str]:
        """Keys of any of the case's parameter sets."""
        return {str(key) for entry in self.parameter_sets for key in entry}

    def issue(self, message: str, *subpath: str | int, **kwargs: Any) -> PlanIssue:
        """An issue at `subpath` inside this case (the case itself when none is given)."""
        return self.positions.issue(message, (*self.path, *subpath), **kwargs)
