"""Find values in results: JMESPath by default, JSONPath when the path starts with `$`.

Parsing and its cache live in the plan layer (`crmqa.plan.paths`), so that a path that does not
parse is refused when the plan loads; this module evaluates parsed paths against data.
"""

from __future__ import annotations

from typing import Any

from crmqa.plan.paths import PathError, compile_path, path_error

__all__ = ["PathError", "find_path", "path_error", "search_path"]


def find_path(path: str, data: Any) -> tuple[bool, Any]:
    """(found, value). JSONPath answers one match as the value and several as a list."""
    is_jsonpath, compiled = compile_path(path)
    if is_jsonpath:
        matches = compiled.find(data)
        if not matches:
            return False, None
        if len(matches) == 1:
            return True, matches[0].value
        return True, [match.value for match in matches]
    value = compiled.search(data)
    return value is not None, value


def search_path(path: str | None, data: Any) -> Any:
    """The value at `path` in `data`, or None when nothing is there (or no path)."""
    if path is None:
        return None
    return find_path(path, data)[1]
