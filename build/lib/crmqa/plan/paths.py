"""Path expressions into results: JMESPath by default, JSONPath when the path starts with `$`.

Compiled expressions are cached: a plan's few hundred distinct paths are compiled once per
process, not once per check. The plan models use `path_error` to refuse a path that does not
parse when the plan is loaded; the checks library uses `compile_path` to evaluate it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jmespath
import jmespath.exceptions

from crmqa.core.errors import CrmqaError


class PathError(CrmqaError):
    """A path expression in a plan does not parse (a test defect, not a product failure)."""


@lru_cache(maxsize=4096)
def _jmespath(path: str) -> Any:
    try:
        return jmespath.compile(path)
    except jmespath.exceptions.ParseError as exc:
        raise PathError(f"not a JMESPath expression: {_first_line(exc)}") from None


@lru_cache(maxsize=1024)
def _jsonpath(path: str) -> Any:
    # Imported on the first JSONPath: jsonpath_ng builds its parser at import, and most
    # plans write JMESPath only.
    from jsonpath_ng.ext import parse as parse_jsonpath

    try:
        return parse_jsonpath(path)
    except Exception as exc:  # the lexer's and the parser's errors, and any other
        raise PathError(f"not a JSONPath expression: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def compile_path(path: str) -> tuple[bool, Any]:
    """(is_jsonpath, compiled expression); raises PathError when the path does not parse."""
    if path.startswith("$"):
        return True, _jsonpath(path)
    return False, _jmespath(path)


def path_error(path: str) -> str | None:
    """A message when `path` does not parse, else None."""
    try:
        compile_path(path)
    except PathError as exc:
        return str(exc)
    return None
