"""Expectation evaluation: status, outcome, body paths (JMESPath / JSONPath), records, field
errors, counts, JSON Schema, headers and response time; and `save` extraction.

Public API: `evaluate(expect, output, base_dir) -> list[CheckResult]`,
`extract_saved(save, data) -> dict`, `find_path(path, data) -> (found, value)`.
"""

from crmqa.checks.expect import (
    RESPONSE_TIME,
    CheckError,
    SaveError,
    evaluate,
    extract_saved,
    show,
)
from crmqa.checks.paths import PathError, find_path, path_error, search_path

__all__ = [
    "RESPONSE_TIME",
    "CheckError",
    "PathError",
    "SaveError",
    "evaluate",
    "extract_saved",
    "find_path",
    "path_error",
    "search_path",
    "show",
]
