"""One YAML document against one model: reading, shape, validation, and issue order.

Shared by plans, suites, manual results files and other layers' documents (profiles): every
document is read by `yaml_source` and validated by one pydantic model, with each problem worded
by `issues` and positioned in its file.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from crmqa.core.errors import PlanError, PlanIssue, SourcePosition
from crmqa.plan.issues import describe_value, issues_from_validation
from crmqa.plan.yaml_source import DEFAULT_LIMITS, PositionMap, YamlDocument, read_yaml

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


#: A document with more values than this is validated part by part (see `validate_model`).
WHOLE_DOCUMENT_VALUES = 100_000
#: One part (a case of a suite, a target of a plan) holds at most this many values.
MAX_PART_VALUES = 100_000
#: Problems listed for one document before validation stops.
MAX_ISSUES = DEFAULT_LIMITS.max_issues


def _count_values(value: Any, limit: int) -> int:
    """The number of values in `value` (itself included), counting little further than limit."""
    count = 1
    stack = [value]
    while stack and count <= limit:
        current = stack.pop()
        kind = type(current)
        if kind is dict:
            children: Any = current.values()
        elif kind is list:
            children = current
        else:
            continue
        count += len(children)
        stack.extend(child for child in children if type(child) in (dict, list))
    return count


def _plain_annotation(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [m for m in get_args(annotation) if m is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


@lru_cache(maxsize=64)
def _collections(model_cls: type[BaseModel]) -> dict[str, tuple[str, Any, TypeAdapter[Any]]]:
    """YAML key -> (field name, empty value, adapter of one item) for list and dict fields."""
    found: dict[str, tuple[str, Any, TypeAdapter[Any]]] = {}
    for name, info in model_cls.model_fields.items():
        if info.metadata:  # a bound on the collection itself (min_length...): keep it whole
            continue
        annotation = _plain_annotation(info.annotation)
        origin = get_origin(annotation)
        if origin is list:
            found[info.alias or name] = (name, [], TypeAdapter(get_args(annotation)[0]))
        elif origin is dict:
            found[info.alias or name] = (name, {}, TypeAdapter(annotation))
    return found


def _needs_whole_pass(model_cls: type[BaseModel], fields: Iterable[str]) -> bool:
    """True when validators look at the whole model, or at a collection validated in parts."""
    decorators = model_cls.__pydantic_decorators__
    if decorators.model_validators or decorators.root_validators:
        return True
    names = set(fields)
    return any(
        "*" in validator.info.fields or names & set(validator.info.fields)
        for validator in decorators.field_validators.values()
    )


def validate_model(
    model_cls: type[ModelT],
    data: Any,
    positions: PositionMap,
    *,
    part_sizes: Mapping[tuple[Any, Any], int] | None = None,
) -> tuple[ModelT | None, list[PlanIssue]]:
    """Validate `data` with `model_cls`: the model, or None and the problems as issues.

    A small document is validated in one call. A large one (a suite of thousands of cases)
    is validated part by part: the document with its lists and mappings emptied, then each
    of their items on its own, so that a hostile document cannot make the validator build
    millions of errors: parts larger than MAX_PART_VALUES are refused unread, and validation
    stops once MAX_ISSUES problems are listed. `part_sizes` (from `YamlDocument`) spares
    counting the values of each part.
    """
    large = _count_values(data, WHOLE_DOCUMENT_VALUES) > WHOLE_DOCUMENT_VALUES  # stops early
    if not isinstance(data, dict) or not large:
        try:
            return model_cls.model_validate(data), []
        except ValidationError as error:
            return None, issues_from_validation(
                error, model_cls, data, positions, limit=MAX_ISSUES
            )
    return _validate_in_parts(model_cls, data, positions, part_sizes)


def _validate_in_parts(
    model_cls: type[ModelT],
    data: dict[Any, Any],
    positions: PositionMap,
    part_sizes: Mapping[tuple[Any, Any], int] | None,
) -> tuple[ModelT | None, list[PlanIssue]]:
    collections = {
        key: spec
        for key, spec in _collections(model_cls).items()
        if key in data and isinstance(data[key], type(spec[1]))
    }
    header_data = {**data, **{key: spec[1] for key, spec in collections.items()}}
    issues: list[PlanIssue] = []
    header: ModelT | None = None
    if _count_values(header_data, MAX_PART_VALUES) > MAX_PART_VALUES:
        issues.append(positions.issue(_too_large("this document, besides its lists,"), ()))
    else:
        try:
            header = model_cls.model_validate(header_data)
        except ValidationError as error:
            issues += issues_from_validation(
                error, model_cls, data, positions, limit=MAX_ISSUES
            )
    parts: dict[str, Any] = {}
    for key, (name, empty, adapter) in collections.items():
        validated: Any = type(empty)()
        for at, item, wrapped in _items(key, data[key]):
            if len(issues) >= MAX_ISSUES:
                issues.append(
                    positions.issue(
                        f"more than {MAX_ISSUES} problems in this file; fix these first "
                        "(the rest is not checked)",
                        at,
                    )
                )
                return None, issues
            if part_sizes is not None:
                size = part_sizes.get(at, 1)
            else:
                size = _count_values(item, MAX_PART_VALUES)
            if size > MAX_PART_VALUES:
                issues.append(positions.issue(_too_large("this item"), at))
                continue
            try:
                value = adapter.validate_python(wrapped)
            except ValidationError as error:
                issues += issues_from_validation(
                    error, model_cls, data, positions, at=at[:-1] if wrapped is not item else at,
                    limit=MAX_ISSUES,
                )
                continue
            if isinstance(validated, list):
                validated.append(value)
            else:
                validated.update(value)
        parts[name] = validated
    if issues or header is None:
        return None, issues
    if _needs_whole_pass(model_cls, parts):
        return validate_model_whole(model_cls, data, positions)
    return header.model_copy(update=parts), []


def validate_model_whole(
    model_cls: type[ModelT], data: Any, positions: PositionMap
) -> tuple[ModelT | None, list[PlanIssue]]:
    """Validate `data` with `model_cls` in one call (every part already checked)."""
    try:
        return model_cls.model_validate(data), []
    except ValidationError as error:
        return None, issues_from_validation(error, model_cls, data, positions, limit=MAX_ISSUES)


def _items(key: str, collection: Any) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """(data path, item, what to validate) for each item: list items as they are, mapping
    entries as one-entry mappings (so that their keys are validated too)."""
    if isinstance(collection, list):
        for index, item in enumerate(collection):
            yield (key, index), item, item
    else:
        for name, item in collection.items():
            yield (key, name), item, {name: item}


def _too_large(what: str) -> str:
    return (
        f"{what} holds more than {MAX_PART_VALUES:,} values: far more than a plan needs "
        "(a generated file gone wrong?)"
    )


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
        model, issues = validate_model(
            model_cls, document.data, document.positions, part_sizes=document.part_sizes
        )
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
