"""Evaluate a step's `Expect` against its `StepOutput`: every check, soft, with plain messages.

Each check yields a `CheckResult` with the expected and actual values and a one-line message
a QA engineer reads without a manual: `body record.email: expected 'a@b.c', got 'A@b.c'`.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from crmqa.checks.paths import PathError, find_path
from crmqa.core.results import CheckResult
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.models import BodyCheck, Expect

_MAX_SHOWN = 160


class StepOutputLike(Protocol):
    """What checks read from a step's output (crmqa.drivers.base.StepOutput has it all)."""

    data: Any
    outcome: str | None
    status: int | None
    headers: dict[str, str]
    elapsed_ms: float
    field_errors: dict[str, list[str]]


# The name of the check `expect.max_ms` makes (the engine measures a missed one again).
RESPONSE_TIME = "response time"


def show(value: Any) -> str:
    """A value as a short, readable literal for messages."""
    text = repr(value) if not isinstance(value, dict | list) else json.dumps(
        value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _check(name: str, ok: bool, expected: Any, actual: Any, message: str) -> CheckResult:
    return CheckResult(name=name, ok=ok, expected=expected, actual=actual,
                       message="" if ok else f"{name}: {message}")


def _mismatch(name: str, expected: Any, actual: Any) -> CheckResult:
    ok = expected == actual
    return _check(name, ok, expected, actual, f"expected {show(expected)}, got {show(actual)}")


def _field_errors_text(errors: dict[str, list[str]], limit: int = 3) -> str:
    """`email: unknown field, this field is required; phone: too long`, at most `limit`
    fields."""
    parts = [f"{field}: {', '.join(dict.fromkeys(messages)) or '?'}"
             for field, messages in list(errors.items())[:limit]]
    more = f"; {len(errors) - limit} more" if len(errors) > limit else ""
    return "; ".join(parts) + more


class CheckError(Exception):
    """An expectation cannot be evaluated (bad path, unreadable schema): a test defect."""


def evaluate(
    expect: Expect, output: StepOutputLike, base_dir: Path | None = None
) -> list[CheckResult]:
    """Every expectation in `expect` checked against `output`; none stops the others.

    Raises `CheckError` only when the plan itself is wrong (a path that does not parse, a
    schema file that does not exist).
    """
    results: list[CheckResult] = []
    data = output.data
    if expect.outcome is not None:
        wanted = ([o.value for o in expect.outcome] if isinstance(expect.outcome, list)
                  else [expect.outcome.value])
        # A refusal's field errors say why; "got 'rejected'" alone sends the reader to the
        # evidence for what the CRM already said.
        why = (f" ({_field_errors_text(output.field_errors)})"
               if output.outcome not in wanted and output.field_errors else "")
        results.append(_check(
            "outcome", output.outcome in wanted,
            wanted if isinstance(expect.outcome, list) else wanted[0], output.outcome,
            f"expected {' or '.join(repr(w) for w in wanted)}, got {output.outcome!r}{why}",
        ))
    if expect.status is not None:
        allowed = expect.status if isinstance(expect.status, list) else [expect.status]
        results.append(_check(
            "status", output.status in allowed, expect.status, output.status,
            f"expected {' or '.join(str(s) for s in allowed)}, got {output.status}",
        ))
    for body_check in expect.body:
        results.append(check_body(body_check, data))
    if expect.record is not None:
        results.extend(check_record(expect.record, data))
    if expect.field_errors is not None:
        results.append(check_field_errors(expect.field_errors, output.field_errors))
    if expect.count is not None:
        records = data.get("records") if isinstance(data, dict) else None
        actual = len(records) if isinstance(records, list) else None
        results.append(_mismatch("count", expect.count, actual))
    if expect.total is not None:
        actual_total = data.get("total") if isinstance(data, dict) else None
        results.append(_mismatch("total", expect.total, actual_total))
    if expect.schema_ is not None:
        results.append(check_schema(expect.schema_, data, base_dir))
    for header, pattern in expect.headers.items():
        results.append(check_header(header, pattern, output.headers))
    if expect.max_ms is not None:
        results.append(_check(
            RESPONSE_TIME, output.elapsed_ms <= expect.max_ms, f"<= {expect.max_ms:g} ms",
            round(output.elapsed_ms, 1),
            f"expected <= {expect.max_ms:g} ms, got {output.elapsed_ms:.0f} ms",
        ))
    return results


# --------------------------------------------------------------------------- body


def _fold(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, list):
        return [_fold(v) for v in value]
    if isinstance(value, dict):
        return {k: _fold(v) for k, v in value.items()}
    return value


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list):
        if item in container:
            return True
        return isinstance(item, dict) and any(_is_subset(item, c) for c in container)
    if isinstance(container, dict):
        return _is_subset(item, container) if isinstance(item, dict) else item in container
    return False


def _is_subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _is_subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}


@lru_cache(maxsize=512)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise CheckError(f"bad regular expression {pattern!r}: {exc}") from None


def check_body(check: BodyCheck, data: Any) -> CheckResult:
    """One `body:` entry: find the path, then apply its single comparison.

    `actual` is the value found at the path (None when nothing is there); `expected` is the
    value wanted for `equals`, else what was asked in words (`not 'x'`, `length 3`).
    """
    name = f"body {check.path}"
    try:
        found, actual = find_path(check.path, data)
    except PathError as exc:
        raise CheckError(str(exc)) from None
    comparison = next(k for k in ("equals", "not_equals", "contains", "not_contains", "matches",
                                  "exists", "length", "gte", "lte", "type")
                      if k in check.model_fields_set)
    expected = getattr(check, comparison)
    wanted = _wanted(comparison, expected, check.ignore_case)
    left, right = (_fold(actual), _fold(expected)) if check.ignore_case else (actual, expected)
    if comparison == "exists":
        return _check(name, found == expected, wanted, actual,
                      "expected it to exist, found nothing" if expected
                      else f"expected nothing there, got {show(actual)}")
    if not found and comparison not in ("equals", "not_equals", "not_contains"):
        return _check(name, False, wanted, None, f"expected {_phrase(comparison, expected)}, "
                                                 "found nothing at that path")
    if comparison == "equals":
        ok = left == right
    elif comparison == "not_equals":
        ok = left != right
    elif comparison == "contains":
        ok = _contains(left, right)
    elif comparison == "not_contains":
        ok = not _contains(left, right)
    elif comparison == "matches":
        ok = isinstance(actual, str) and bool(_regex(expected, check.ignore_case).search(actual))
    elif comparison == "length":
        ok = hasattr(actual, "__len__") and len(actual) == expected
        if not ok:
            size = len(actual) if hasattr(actual, "__len__") else "no length"
            return _check(name, False, wanted, actual,
                          f"expected length {expected}, got {size} ({show(actual)})")
    elif comparison in ("gte", "lte"):
        numeric = isinstance(actual, int | float) and not isinstance(actual, bool)
        ok = numeric and (actual >= expected if comparison == "gte" else actual <= expected)
    else:  # type
        types = _JSON_TYPES[expected]
        ok = isinstance(actual, types) and not (
            isinstance(actual, bool) and expected in ("number", "integer"))
    return _check(name, ok, wanted, actual,
                  f"expected {_phrase(comparison, expected)}, got {show(actual)}"
                  + (" (ignoring case)" if check.ignore_case and comparison in _TEXT_COMPARISONS
                     else ""))


# Comparisons `ignore_case` changes.
_TEXT_COMPARISONS = ("equals", "not_equals", "contains", "not_contains", "matches")


def _a(word: str) -> str:
    """`an integer`, `a string`."""
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _wanted(comparison: str, expected: Any, ignore_case: bool = False) -> Any:
    """What a body check asked for, as `CheckResult.expected`: the value itself for `equals`
    (so it compares with `actual` at a glance), else the comparison in words."""
    if comparison == "equals":
        return expected
    text = {
        "not_equals": f"not {show(expected)}",
        "contains": f"contains {show(expected)}",
        "not_contains": f"does not contain {show(expected)}",
        "matches": f"matches /{expected}/",
        "exists": "exists" if expected else "does not exist",
        "length": f"length {expected}",
        "gte": f">= {_number(expected)}",
        "lte": f"<= {_number(expected)}",
        "type": _a(str(expected)),
    }[comparison]
    return f"{text} (ignoring case)" if ignore_case and comparison in _TEXT_COMPARISONS else text


def _phrase(comparison: str, expected: Any) -> str:
    """The comparison as it reads after "expected" in a message."""
    return {
        "equals": show(expected),
        "not_equals": f"anything but {show(expected)}",
        "contains": f"to contain {show(expected)}",
        "not_contains": f"not to contain {show(expected)}",
        "matches": f"to match /{expected}/",
        "length": f"length {expected}",
        "gte": f">= {_number(expected)}",
        "lte": f"<= {_number(expected)}",
        "type": _a(str(expected)),
    }.get(comparison, show(expected))


def _number(value: Any) -> str:
    """`29`, not `29.0`, for a bound the plan wrote as 29."""
    return f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- record & co


def check_record(expected: dict[str, Any], data: Any) -> list[CheckResult]:
    """Subset match of canonical fields, one result per field so each mismatch is named."""
    record = data.get("record") if isinstance(data, dict) else None
    if not isinstance(record, dict):
        return [_check("record", False, expected, record,
                       f"expected a record with {show(expected)}, got {show(record)}")]
    results = []
    for field, value in expected.items():
        if field not in record:
            results.append(_check(f"record.{field}", False, value, None,
                                  f"expected {show(value)}, the record has no {field!r}"))
        else:
            actual = record[field]
            ok = _is_subset(value, actual)
            results.append(_check(f"record.{field}", ok, value, actual,
                                  f"expected {show(value)}, got {show(actual)}"))
    return results


def check_field_errors(expected: list[str], actual: dict[str, list[str]]) -> CheckResult:
    """The listed canonical fields must all be reported invalid ([] means: no field errors).

    `actual` is what the CRM reported: field -> messages.
    """
    reported = {field: list(messages) for field, messages in sorted(actual.items())}
    if not expected:
        return _check("field_errors", not actual, [], reported,
                      f"expected no field errors, got {show(actual)}")
    missing = [f for f in expected if f not in actual]
    detail = ", ".join(f"{k}: {'; '.join(v)}" for k, v in actual.items()) or "none"
    return _check("field_errors", not missing, expected, reported,
                  f"expected errors on {', '.join(expected)}; "
                  f"missing {', '.join(missing)} (reported: {detail})")


@lru_cache(maxsize=64)
def _schema_file(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckError(f"schema file {path} cannot be read: {exc.strerror}") from None
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except ValueError as exc:
        raise CheckError(f"schema file {path} is not valid JSON/YAML: {exc}") from None


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    # Imported on the first schema check: most cases check no schema.
    import jsonschema
    from jsonschema.exceptions import SchemaError

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise CheckError(f"the expected JSON Schema is itself invalid: {exc.message}") from None
    return cls(schema)


def check_schema(schema: dict[str, Any] | str, data: Any, base_dir: Path | None) -> CheckResult:
    """The body (what body paths look into) must match the JSON Schema."""
    if isinstance(schema, str):
        folders = search_folders(base_dir or Path.cwd())
        found = find_data_file(schema, folders)
        if found is None:
            raise CheckError(f"schema file: {missing_file_message(schema, folders)}")
        loaded = _schema_file(str(found))
        label = schema
    else:
        loaded = schema
        label = "inline"
    validator = _validator(json.dumps(loaded, sort_keys=True))
    error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.path))), None)
    wanted = f"matches the {label} schema"
    if error is None:
        return _check("schema", True, wanted, "matches", "")
    where = ".".join(str(p) for p in error.absolute_path) or "the top"
    return _check("schema", False, wanted, f"at {where}: {error.message}",
                  f"body does not match {label} schema at {where}: {error.message}")


def check_header(header: str, pattern: str, headers: dict[str, str]) -> CheckResult:
    """A response header must exist and match the regular expression (searched)."""
    lowered = header.lower()
    value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    name = f"header {header}"
    wanted = f"matches /{pattern}/"
    if value is None:
        return _check(name, False, wanted, None, f"expected to match /{pattern}/, header missing")
    ok = bool(_regex(pattern, True).search(value))
    return _check(name, ok, wanted, value, f"expected to match /{pattern}/, got {show(value)}")


# --------------------------------------------------------------------------- save


class SaveError(Exception):
    """A `save` path found nothing in the step's result."""


def extract_saved(save: dict[str, str], data: Any) -> dict[str, Any]:
    """Values for the step's `save:`; raises SaveError naming the variable and path."""
    values: dict[str, Any] = {}
    for variable, path in save.items():
        try:
            found, value = find_path(path, data)
        except PathError as exc:
            raise CheckError(f"save {variable}: {exc}") from None
        if not found:
            raise SaveError(f"save {variable}: path {path!r} found nothing in the result")
        values[variable] = value
    return values
