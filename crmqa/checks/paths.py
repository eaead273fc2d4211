"""Find values in results: JMESPath by default, JSONPath when the path starts with `$`.

Compiled expressions are cached: a plan's few hundred distinct paths are compiled once per
process, not once per check.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jmespath
import jmespath.exceptions
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath

from crmqa.core.errors import CrmqaError


class PathError(CrmqaError):
    """A path expression in a plan does not parse (a test defect, not a product failure)."""


@lru_cache(maxsize=2048)
def _jmespath(path: str) -> Any:
    try:
        return jmespath.compile(path)
    except jmespath.exceptions.ParseError as exc:
        raise PathError(f"bad JMESPath {path!r}: {exc}") from None


@lru_cache(maxsize=512)
def _jsonpath(path: str) -> Any:
    try:
        return parse_jsonpath(path)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise PathError(f"bad JSONPath {path!r}: {exc}") from None


def path_error(path: str) -> str | None:
    """A message when `path` does not parse, else None (for plan validation)."""
    try:
        _jsonpath(path) if path.startswith("$") else _jmespath(path)
    except PathError as exc:
        return str(exc)
    return None


def find_path(path: str, data: Any) -> tuple[bool, Any]:
    """(found, value). JSONPath answers one match as the value and several as a list."""
    if path.startswith("$"):
        matches = _jsonpath(path).find(data)
        if not matches:
            return False, None
        if len(matches) == 1:
            return True, matches[0].value
        return True, [match.value for match in matches]
    value = _jmespath(path).search(data)
    return value is not None, value


def search_path(path: str | None, data: Any) -> Any:
    """The value at `path` in `data`, or None when nothing is there (or no path)."""
    if path is None:
        return None
    return find_path(path, data)[1]
