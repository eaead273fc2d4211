"""Turning pydantic validation errors into positioned, plain-English plan issues.

pydantic reports where an error is as a `loc` tuple mixing data keys with union member tags
(`('cases', 0, 'steps', 2, 'OpStep', 'expect', 'status', 'int')`). We walk the loc against the
data to separate the two, merge the per-member errors of a union into one message, and then
word each kind of error with its own formatter: one function per pydantic error type.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from crmqa.core.errors import PlanIssue
from crmqa.plan.models import ENTITIES, OPERATIONS, STEP_KINDS
from crmqa.plan.yaml_source import DataPath, PositionMap, clip

__all__ = ["clip", "describe_value", "did_you_mean", "issues_from_validation", "model_keys"]


def did_you_mean(word: object, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """`did you mean 'x'?` for the closest of `choices`, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else None


def describe_value(value: Any) -> str:
    """How a YAML value reads to a plan author: 'the text 'abc'', 'a list', 'nothing'."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text '{shown}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a value of another kind"


# --------------------------------------------------------------------------- model walking

_THINGS: dict[str, str] = {
    "Plan": "the plan",
    "Suite": "the suite file",
    "SuiteInfo": "'suite'",
    "Case": "this case",
    "OpStep": "this step",
    "RequestStep": "this step",
    "UiStep": "this step",
    "WaitStep": "this step",
    "HttpRequest": "this request",
    "WaitUntil": "'wait_until'",
    "Expect": "'expect'",
    "BodyCheck": "this body check",
    "Target": "this target",
    "Credential": "this identity",
    "Gates": "'gates'",
    "PassRates": "'pass_rate'",
    "Suspension": "'suspension'",
    "Scales": "'scales'",
    "Level": "this level",
    "Data": "'data'",
    "SystemUnderTest": "'system'",
    "Include": "this include",
    "ManualResults": "'manual_results'",
    "WaiverSpec": "this waiver",
    "FieldRule": "this field rule",
    "ManualResultsFile": "the manual results file",
    "ManualResult": "this manual result",
}


def model_keys(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts as YAML writes them (aliases where there are aliases)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _resolve(annotation: Any, value: Any) -> Any:
    """Strip Annotated/Optional and pick the union member that best fits `value`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [_resolve(m, value) for m in get_args(annotation) if m is not type(None)]
            if isinstance(value, dict):
                models = [m for m in members if _is_model(m)]
                if models:
                    return max(models, key=lambda m: _fit(m, value))
            if isinstance(value, list):
                lists = [m for m in members if get_origin(m) is list]
                if lists:
                    return lists[0]
            return members[0] if members else annotation
        return annotation


def _fit(model: type[BaseModel], value: dict[Any, Any]) -> tuple[int, int]:
    keys = set(model_keys(model))
    kind_keys = [kind for kind in STEP_KINDS if kind in keys and kind in value]
    return (len(kind_keys), sum(1 for key in value if key in keys))


def model_at(root: type[BaseModel], path: DataPath, data: Any) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path` in `data`, if one does."""
    annotation: Any = root
    value = data
    for element in path:
        annotation = _resolve(annotation, value)
        if _is_model(annotation):
            fields = {info.alias or name: info for name, info in annotation.model_fields.items()}
            info = fields.get(element) if isinstance(element, str) else None
            if info is None:
                return None
            annotation = info.annotation
        elif get_origin(annotation) is list and isinstance(element, int):
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return None
        value = _step_into(value, element)
    resolved = _resolve(annotation, value)
    return resolved if _is_model(resolved) else None


def _step_into(value: Any, element: str | int) -> Any:
    if isinstance(value, dict):
        return value.get(element)
    if isinstance(value, list) and isinstance(element, int) and 0 <= element < len(value):
        return value[element]
    return None


# --------------------------------------------------------------------------- error records


@dataclass
class _Error:
    """One pydantic error with its loc split into a data path and the union tags it crossed."""

    kind: str
    path: DataPath
    input: Any
    ctx: dict[str, Any]
    message: str
    member: str | None  # union member tag, when the error is a member's type mismatch


def _split_loc(loc: Sequence[str | int], data: Any, kind: str) -> tuple[DataPath, str | None]:
    """Separate data keys from union tags; return the data path and a trailing tag."""
    path: list[str | int] = []
    value = data
    trailing_tag: str | None = None
    for index, element in enumerate(loc):
        last = index == len(loc) - 1
        descendable = (isinstance(value, dict) and element in value) or (
            isinstance(value, list) and isinstance(element, int) and 0 <= element < len(value)
        )
        if descendable:
            path.append(element)
            value = _step_into(value, element)
            trailing_tag = None
        elif last and kind == "missing":
            path.append(element)  # the absent key
        elif last and isinstance(value, dict):
            path.append(element)
        else:
            trailing_tag = str(element) if last else None
    return tuple(path), trailing_tag


# --------------------------------------------------------------------------- wording

_TYPE_WORDS: dict[str, str] = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "nothing",
}

_TAG_WORDS: dict[str, str] = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "none": "nothing",
}


def _tag_word(tag: str) -> str:
    if tag in _TAG_WORDS:
        return _TAG_WORDS[tag]
    if tag.startswith("list["):
        inner = tag[5:-1]
        return f"a list of {_plural(_TAG_WORDS.get(inner, 'values'))}"
    if tag.startswith("dict["):
        return "a mapping"
    if tag.startswith("literal["):
        return "one of " + ", ".join(re.findall(r"'([^']*)'", tag))
    return "a mapping"


def _plural(word: str) -> str:
    return {"a whole number": "whole numbers", "text": "texts", "a number": "numbers"}.get(
        word, word
    )


def _label(path: DataPath) -> str:
    """`'status'` for a key, `item 3 of 'steps'` for a list entry, `the document` for the root."""
    if not path:
        return "the document"
    last = path[-1]
    if isinstance(last, int):
        parent = next((str(e) for e in reversed(path[:-1]) if isinstance(e, str)), "the list")
        return f"item {last + 1} of '{parent}'"
    return f"'{last}'"


def _thing(root: type[BaseModel], path: DataPath, data: Any) -> str:
    model = model_at(root, path, data)
    if model is not None:
        return _THINGS.get(model.__name__, _label(path))
    return _label(path)


_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_ALL_OPERATIONS = [f"{entity}.{operation}" for entity in ENTITIES for operation in OPERATIONS]

Formatter = Callable[["_Context", _Error], PlanIssue]


@dataclass
class _Context:
    root: type[BaseModel]
    data: Any
    positions: PositionMap

    def at(
        self,
        error: _Error,
        message: str,
        suggestion: str | None = None,
        *,
        path: DataPath | None = None,
        at_key: bool = False,
    ) -> PlanIssue:
        chosen = error.path if path is None else path
        return self.positions.issue(message, chosen, at_key=at_key, suggestion=suggestion)


def _missing(context: _Context, error: _Error) -> PlanIssue:
    key = error.path[-1]
    parent = error.path[:-1]
    thing = _thing(context.root, parent, context.data)
    return context.at(error, f"{thing} is missing the required key '{key}'", path=parent)


def _extra(context: _Context, error: _Error) -> PlanIssue:
    key = error.path[-1]
    parent = error.path[:-1]
    model = model_at(context.root, parent, context.data)
    allowed = model_keys(model) if model else []
    allowed = [name for name in allowed if not name.startswith("$")]
    suggestion = did_you_mean(key, allowed)
    thing = _THINGS.get(model.__name__, _label(parent)) if model else _label(parent)
    message = f"unknown key '{clip(key)}' in {thing}"
    if suggestion is None and allowed:
        message += f"; allowed keys: {', '.join(allowed)}"
    return context.at(error, message, suggestion, at_key=True)


def _choice(context: _Context, error: _Error) -> PlanIssue:
    expected = re.findall(r"'([^']*)'", str(error.ctx.get("expected", "")))
    value = error.input
    message = f"{_label(error.path)} must be one of {', '.join(expected)}; got '{clip(value)}'"
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        message = f"{_label(error.path)} must be one of {', '.join(expected)}; got "
        message += describe_value(value)
    return context.at(error, message, did_you_mean(value, expected))


def _pattern(context: _Context, error: _Error) -> PlanIssue:
    pattern = str(error.ctx.get("pattern", ""))
    value = error.input
    if pattern == _ID_PATTERN:
        return context.at(
            error,
            f"'{clip(value)}' is not a valid id: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit",
        )
    if pattern.startswith("^(lead|"):
        hint = did_you_mean(value, _ALL_OPERATIONS)
        message = f"'{clip(value)}' is not a canonical operation"
        if hint is None:  # nothing close: spell out the whole vocabulary
            message += (
                f": write <entity>.<operation> with entity one of {', '.join(ENTITIES)} "
                f"and operation one of {', '.join(OPERATIONS)}"
            )
        return context.at(error, message, hint)
    if "\\d{4}-\\d{2}-\\d{2}" in pattern:
        return context.at(
            error, f"'{clip(value)}' is not a date: write YYYY-MM-DD, e.g. 2026-12-31"
        )
    return context.at(
        error, f"{_label(error.path)} '{clip(value)}' does not have the expected form"
    )


def _wrong_type(context: _Context, error: _Error) -> PlanIssue:
    wanted = _TYPE_WORDS.get(error.kind, "another kind of value")
    if error.kind == "model_type" and isinstance(error.ctx.get("class_name"), str):
        keys = _keys_hint(error.ctx["class_name"])
        wanted = f"a mapping{keys}"
    message = f"{_label(error.path)} must be {wanted}, not {describe_value(error.input)}"
    if error.kind == "string_type" and isinstance(error.input, int | float | bool):
        message += " (put it in quotes)"
    return context.at(error, message)


def _keys_hint(class_name: str) -> str:
    from crmqa.plan import models

    model = getattr(models, class_name, None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        keys = [k for k in model_keys(model) if not k.startswith("$")][:6]
        return f" (with keys such as {', '.join(keys)})"
    return ""


def _bound(context: _Context, error: _Error) -> PlanIssue:
    words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
    limits = [
        f"{words[k]} {_number(error.ctx[k])}" for k in ("gt", "ge", "lt", "le") if k in error.ctx
    ]
    return context.at(
        error, f"{_label(error.path)} must be {' and '.join(limits)}; got {error.input}"
    )


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _length(context: _Context, error: _Error) -> PlanIssue:
    if error.kind == "too_short":
        limit = f"at least {error.ctx.get('min_length')}"
    else:
        limit = f"at most {error.ctx.get('max_length')}"
    return context.at(error, f"{_label(error.path)} must have {limit} item(s)")


def _step_kind(context: _Context, error: _Error) -> PlanIssue:
    kinds = [k.strip() for k in str(error.ctx.get("kinds", ", ".join(STEP_KINDS))).split(",")]
    wanted = ", ".join(kinds)
    value = error.input
    noun = "a repeated step" if kinds != list(STEP_KINDS) else "a step"
    if not isinstance(value, dict):
        return context.at(
            error, f"{noun} must be a mapping with one of {wanted}, not {describe_value(value)}"
        )
    present = [k for k in kinds if k in value]
    if len(present) > 1:
        second = (*error.path, present[1])
        return context.at(
            error,
            f"{noun} needs exactly one of {wanted}; this one has {' and '.join(present)} "
            "(split it into separate steps)",
            path=second,
            at_key=True,
        )
    for key in value:
        hint = did_you_mean(key, kinds)
        if hint:
            return context.at(
                error,
                f"{noun} needs exactly one of {wanted}; this one has none",
                hint,
                path=(*error.path, key),
                at_key=True,
            )
    return context.at(error, f"{noun} needs exactly one of {wanted}; this one has none")


def _include_kind(context: _Context, error: _Error) -> PlanIssue:
    return context.at(
        error,
        "an include is a suite file path or a mapping with 'suite' (and optionally cases, "
        f"exclude, tags), not {describe_value(error.input)}",
    )


def _body_check(context: _Context, error: _Error) -> PlanIssue:
    given = list(error.ctx.get("given") or [])
    choices = str(error.ctx.get("choices", ""))
    if len(given) > 1:
        return context.at(
            error,
            f"a body check compares one way only; this one has {' and '.join(given)} "
            "(write one check per comparison)",
            path=(*error.path, given[1]),
            at_key=True,
        )
    return context.at(error, f"this body check has no comparison: add one of {choices}")


def _manual_steps(context: _Context, error: _Error) -> PlanIssue:
    return context.at(
        error,
        "a manual case has 'instructions' for a person, not 'steps'",
        path=(*error.path, "steps"),
        at_key=True,
    )


def _no_steps(context: _Context, error: _Error) -> PlanIssue:
    case = error.input if isinstance(error.input, dict) else {}
    if "steps" in case:
        return context.at(
            error,
            "'steps' is empty: a case needs at least one step (or category: manual)",
            path=(*error.path, "steps"),
            at_key=True,
        )
    return context.at(error, "this case has no 'steps' (a case needs steps, or category: manual)")


def _custom(context: _Context, error: _Error) -> PlanIssue:
    return context.at(error, error.message)


def _value_error(context: _Context, error: _Error) -> PlanIssue:
    message = str(error.ctx.get("error") or error.message)
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    return context.at(error, f"{_label(error.path)}: {message}")


def _fallback(context: _Context, error: _Error) -> PlanIssue:
    message = re.sub(r"^Input should be ", "must be ", error.message)
    return context.at(error, f"{_label(error.path)} {message}")


_FORMATTERS: dict[str, Formatter] = {
    "missing": _missing,
    "extra_forbidden": _extra,
    "enum": _choice,
    "literal_error": _choice,
    "string_pattern_mismatch": _pattern,
    "greater_than": _bound,
    "greater_than_equal": _bound,
    "less_than": _bound,
    "less_than_equal": _bound,
    "too_short": _length,
    "too_long": _length,
    "step_kind": _step_kind,
    "include_kind": _include_kind,
    "body_check_comparisons": _body_check,
    "manual_case_steps": _manual_steps,
    "case_without_steps": _no_steps,
    "date_not_real": _custom,
    "value_error": _value_error,
    "assertion_error": _value_error,
    **{kind: _wrong_type for kind in _TYPE_WORDS},
}


def _union_issue(context: _Context, path: DataPath, errors: list[_Error]) -> PlanIssue:
    wanted: list[str] = []
    for error in errors:
        word = _tag_word(error.member or "")
        if word not in wanted:
            wanted.append(word)
    value = errors[0].input
    return context.positions.issue(
        f"{_label(path)} must be {' or '.join(wanted)}, not {describe_value(value)}", path
    )


def issues_from_validation(
    error: ValidationError,
    root: type[BaseModel],
    data: Any,
    positions: PositionMap,
    *,
    at: DataPath = (),
    limit: int | None = None,
) -> list[PlanIssue]:
    """Word the errors of `error` as PlanIssues (at most `limit` of them).

    `data` is the whole document `root` validates; `at` is the data path of the part that was
    validated when `error` comes from validating one part (one case of a suite) on its own.
    """
    context = _Context(root, data, positions)
    part = data
    for element in at:
        part = _step_into(part, element)
    records: list[_Error] = []
    for raw in error.errors(include_url=False):
        kind = raw["type"]
        path, tag = _split_loc(raw["loc"], part, kind)
        ctx = dict(raw.get("ctx") or {})
        records.append(_Error(kind, (*at, *path), raw.get("input"), ctx, raw["msg"], tag))
    # A union reports one error per member. Members whose type did not fit the value end in
    # a tag with a type mismatch; when one member got further (a deeper error, or a
    # wrong choice for the right type), only its errors matter; otherwise the mismatches
    # merge into one "must be X or Y" issue.
    unions: dict[DataPath, list[_Error]] = {}
    singles: list[_Error] = []
    for record in records:
        if record.member is not None:
            unions.setdefault(record.path, []).append(record)
        else:
            singles.append(record)
    # paths that lead to a deeper error: every proper prefix of an error's path
    leading = {record.path[:length] for record in singles for length in range(len(record.path))}
    for path, members in unions.items():
        if path in leading:
            continue
        fitting = [m for m in members if m.kind not in _TYPE_WORDS]
        if fitting:
            chosen = fitting[0]
        elif len(members) == 1:
            chosen = members[0]
        else:
            chosen = _Error("union", path, members[0].input, {"members": members}, "", None)
        singles.append(chosen)
        leading.update(chosen.path[:length] for length in range(len(chosen.path)))
    # An unknown key that is a near-miss of a missing required key says it all: drop the
    # "missing" issue for that key (`base_ur` given, `base_url` missing).
    near_misses: set[DataPath] = set()
    missing_in = {record.path[:-1] for record in singles if record.kind == "missing"}
    for record in singles:
        if record.kind == "extra_forbidden" and record.path[:-1] in missing_in:
            parent = record.path[:-1]
            model = model_at(root, parent, data)
            close = difflib.get_close_matches(
                str(record.path[-1]), model_keys(model) if model else [], n=1, cutoff=0.6
            )
            if close:
                near_misses.add((*parent, close[0]))
    issues: list[PlanIssue] = []
    for record in singles:
        if limit is not None and len(issues) >= limit:
            issues.append(
                context.at(
                    record,
                    f"more than {limit} problems here; fix these first (the rest are not listed)",
                )
            )
            break
        if record.kind == "missing" and record.path in near_misses:
            continue
        if record.kind == "union":
            issues.append(_union_issue(context, record.path, record.ctx["members"]))
        else:
            issues.append(_FORMATTERS.get(record.kind, _fallback)(context, record))
    return issues
