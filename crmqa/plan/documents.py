"""One YAML document against one model: reading, shape, validation, and issue order.

Shared by plans, suites, manual results files and other layers' documents (profiles): every
document is read by `yaml_source` and validated by one pydantic model, with each problem worded
by `issues` and positioned in its file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crmqa.core.errors import PlanError, PlanIssue, SourcePosition
from crmqa.plan.issues import describe_value, issues_from_validation
from crmqa.plan.yaml_source import PositionMap, YamlDocument, read_yaml

__all__ = [
    "document_kind",
    "document_shape_issue",
    "load_yaml_document",
    "load_yaml_model",
    "sorted_issues",
    "validate_model",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


def load_yaml_document(path: str | Path, *, display_name: str | None = None) -> YamlDocument:
    """Read a YAML file into data plus positions; syntax problems are in `.issues`."""
    return read_yaml(path, display_name=display_name)


def document_kind(data: Any) -> str | None:
    """'plan', 'suite' or 'manual_results' from a document's top-level keys, or None."""
    if not isinstance(data, dict):
        return None
    if "targets" in data or "target" in data or "gates" in data:
        return "plan"
    if "suite" in data:
        return "suite"
    if "results" in data and len(data) == 1:
        return "manual_results"
    if "id" in data and "system" in data:
        return "plan"
    return None


def document_shape_issue(
    document: YamlDocument, what: str, keys: Sequence[str]
) -> PlanIssue | None:
    """An issue when a file that must hold a mapping is empty or holds something else."""
    if document.issues:
        return None
    wanted = ", ".join(keys)
    if document.data is None:
        return PlanIssue(
            f"the file is empty: {what} needs {wanted}",
            SourcePosition(document.positions.file, 1, 1),
        )
    if not isinstance(document.data, dict):
        return document.positions.issue(
            f"{what} must be a mapping of keys ({wanted}), not {describe_value(document.data)}"
        )
    return None


def validate_model(
    model_cls: type[ModelT], data: Any, positions: PositionMap
) -> tuple[ModelT | None, list[PlanIssue]]:
    """Validate `data` with `model_cls`: the model, or None and every problem as an issue."""
    try:
        return model_cls.model_validate(data), []
    except ValidationError as error:
        return None, issues_from_validation(error, model_cls, data, positions)


def load_yaml_model(
    path: str | Path,
    model_cls: type[ModelT],
    *,
    display_name: str | None = None,
    what: str | None = None,
) -> tuple[ModelT, PositionMap]:
    """Read one YAML file and validate it with `model_cls`, with positioned errors.

    Raises `PlanError` with every issue (syntax, duplicate keys, unknown keys, wrong types).
    `what` names the document in messages ("a profile"); defaults from the model name.
    """
    document = read_yaml(path, display_name=display_name)
    noun = what or f"a {model_cls.__name__.lower()} file"
    keys = [
        info.alias or name for name, info in model_cls.model_fields.items() if info.is_required()
    ]
    shape = document_shape_issue(document, noun, keys or ["its keys"])
    issues = list(document.issues) + ([shape] if shape else [])
    if not issues:
        model, issues = validate_model(model_cls, document.data, document.positions)
        if model is not None and not issues:
            return model, document.positions
    raise PlanError(sorted_issues(issues, [document.positions.file]))


def sorted_issues(issues: Iterable[PlanIssue], file_order: Sequence[str]) -> list[PlanIssue]:
    """Issues in file order, then line and column; exact duplicates dropped (first kept)."""
    rank = {name: index for index, name in reversed(list(enumerate(file_order)))}
    unknown = len(file_order)

    def key(issue: PlanIssue) -> tuple[int, int, int]:
        position = issue.position
        if position is None:
            return (-1, 0, 0)
        return (rank.get(position.file, unknown), position.line, position.column)

    return sorted(dict.fromkeys(issues), key=key)
