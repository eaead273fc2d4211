"""The mapping spec as SQL: each canonical field becomes one DuckDB expression over the
legacy columns, so that mapping a million rows is one scan, not a Python loop.

Also how a migrated value is compared with its mapped source value (`compare:`), and the
normalisation both sides share: an empty text and a missing value are the same (CRMs differ
in which they store).
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crmqa.migration.spec import FieldMapping
from crmqa.migration.tables import MigrationDataError, literal, quote

_SIMPLE = {
    "trim": "{trimmed}",
    "lower": "lower({x})",
    "upper": "upper({x})",
    "collapse_spaces": "regexp_replace(trim({x}), '\\s+', ' ', 'g')",
    # a phone keeps its leading + and its digits: "+7 (495) 123-45-67" -> "+74951234567"
    "phone": "regexp_replace({x}, '[^0-9+]', '', 'g')",
    "digits": "regexp_replace({x}, '[^0-9]', '', 'g')",
    "empty_as_null": "nullif({trimmed}, '')",
}


# transforms whose value never starts or ends with a space, and those that keep it so
_MAKES_TRIMMED = {"trim", "collapse_spaces", "phone", "digits", "empty_as_null"}
_KEEPS_TRIMMED = {"lower", "upper"}


def ends_trimmed(spec: FieldMapping) -> bool:
    """Whether the field's mapped value is trimmed already (trimming it again changes nothing):
    a trimming transform, then only case changes, and no value map or default after them."""
    if spec.map is not None or spec.map_file is not None or spec.default is not None:
        return False
    done = False
    for transform in spec.transform:
        name = transform if isinstance(transform, str) else next(iter(transform), "")
        done = name in _MAKES_TRIMMED or (done and name in _KEEPS_TRIMMED)
    return done


def trimmed(expression: str) -> str:
    """`trim(expression)`, without its cost where there is nothing to trim.

    DuckDB's trim() copies every string it is given (about 0.15 s of CPU per million keys);
    it strips spaces (Unicode's space separators), and the only one in ASCII is ' '. So an
    ASCII text that neither starts nor ends with ' ' is returned as it is: the result is
    always trim()'s. "Starts with ' '" is asked as `< '!'` (true also for an empty text, or
    one starting with a control character, which trim() returns unchanged): DuckDB answers a
    comparison from the few bytes a string keeps inline, where starts_with() costs a
    function call per row. (DuckDB computes the repeated expression once.)
    """
    x = expression
    return (f"CASE WHEN {x} < '!' OR ends_with({x}, ' ') OR "
            f"strlen({x}) <> length({x}) THEN trim({x}) ELSE {x} END")


def column(name: str, columns: Sequence[str], where: str) -> str:
    """A source column reference; a name the file does not have is a set-up error."""
    if name not in columns:
        close = difflib.get_close_matches(name, list(columns), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise MigrationDataError(
            f"{where}: the source has no column '{name}'{hint}; its columns: "
            f"{', '.join(columns)}")
    return quote(name)


def field_sql(field: str, spec: FieldMapping, columns: Sequence[str], base_dir: Path,
              where: str) -> str:
    """The SQL expression that makes canonical `field` from a legacy row."""
    here = f"{where}.{field}"
    if spec.value is not None:
        expression = literal(spec.value)
    elif spec.concat is not None:
        parts = ", ".join(column(name, columns, here) for name in spec.concat)
        expression = f"concat_ws({literal(spec.sep)}, {parts})"
    else:
        assert spec.from_ is not None
        expression = column(spec.from_, columns, here)
        if spec.split is not None:
            expression = f"split_part({expression}, {literal(spec.sep)}, {spec.split})"
    for transform in spec.transform:
        expression = _transform(expression, transform, here)
    if spec.map is not None or spec.map_file is not None:
        expression = _mapped(expression, _value_map(spec, base_dir, here), spec.unmapped)
    if spec.default is not None:
        expression = f"coalesce(nullif({expression}, ''), {literal(spec.default)})"
    return expression


def _transform(expression: str, transform: Any, where: str) -> str:
    if isinstance(transform, str):
        return _SIMPLE[transform].format(x=expression, trimmed=trimmed(expression))
    if len(transform) != 1:
        raise MigrationDataError(f"{where}: a transform is one key, not {sorted(transform)}")
    ((name, argument),) = transform.items()
    if name == "date":
        return f"strftime(try_strptime({expression}, {literal(argument)}), '%Y-%m-%d')"
    if name == "timestamp":
        return (f"strftime(try_strptime({expression}, {literal(argument)}), "
                "'%Y-%m-%dT%H:%M:%S')")
    if name == "timezone":
        zones = argument if isinstance(argument, dict) else {}
        source, target = zones.get("from"), zones.get("to", "UTC")
        if not source:
            raise MigrationDataError(f"{where}: timezone needs `from:` (e.g. Europe/Moscow)")
        # a local wall-clock time in `from` -> the same instant's wall-clock time in `to`
        return (f"strftime(timezone({literal(target)}, timezone({literal(source)}, "
                f"try_cast({expression} AS TIMESTAMP))), '%Y-%m-%dT%H:%M:%S')")
    if name == "truncate":
        return f"left({expression}, {int(argument)})"
    if name == "replace" and isinstance(argument, dict):
        return (f"regexp_replace({expression}, {literal(argument.get('pattern', ''))}, "
                f"{literal(argument.get('with', ''))}, 'g')")
    raise MigrationDataError(
        f"{where}: unknown transform '{name}' (trim, lower, upper, collapse_spaces, phone, "
        "digits, empty_as_null, date, timestamp, timezone, truncate, replace)")


def _value_map(spec: FieldMapping, base_dir: Path, where: str) -> dict[str, Any]:
    values = {str(k): v for k, v in (spec.map or {}).items()}
    if spec.map_file is not None:
        path = base_dir / spec.map_file
        if not path.is_file():
            raise MigrationDataError(f"{where}: map file {path} does not exist")
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        for row in rows[1:]:  # a header row names the two columns
            if len(row) >= 2:
                values[row[0]] = row[1]
    return values


def _mapped(expression: str, values: dict[str, Any], unmapped: str) -> str:
    cases = " ".join(f"WHEN {literal(k)} THEN {literal(v) if v is not None else 'NULL'}"
                     for k, v in values.items())
    otherwise = {"keep": expression, "null": "NULL",
                 # an unlisted value shows up as itself, marked, so the field check catches it
                 "error": f"'<unmapped ' || {expression} || '>'"}[unmapped]
    return f"(CASE {expression} {cases} ELSE {otherwise} END)" if cases else expression


def normalised(expression: str, how: str) -> str:
    """A value as `compare:` sees it; empty and missing are the same."""
    forms = {
        "exact": "coalesce({x}, '')",
        "ignore_case": "lower(coalesce({x}, ''))",
        "trimmed": "trim(coalesce({x}, ''))",
        "digits": "regexp_replace(coalesce({x}, ''), '[^0-9]', '', 'g')",
        "number": "coalesce(CAST(try_cast({x} AS DOUBLE) AS VARCHAR), coalesce({x}, ''))",
        "date": "coalesce(CAST(try_cast(left({x}, 10) AS DATE) AS VARCHAR), coalesce({x}, ''))",
        "timestamp": "coalesce(strftime(try_cast(replace({x}, 'Z', '+00:00') AS TIMESTAMPTZ) "
                     "AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S'), coalesce({x}, ''))",
    }
    return forms[how].format(x=expression)
