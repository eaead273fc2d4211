"""The run folder reports/<run-id>/ and reading its results back.

Layout (written by the plugin and by `write_run_outputs`):

    run.json                 RunInfo
    results/*.jsonl          one CaseResult JSON per line, one file per pytest-xdist worker
    allure-results/          one result per case (crmqa's) + environment, categories, executor
    allure-report/index.html Allure 3 single-file report (`crmqa report`)
    verdict.json, defects.csv, summary.md, summary.html
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from crmqa.core.errors import CrmqaError
from crmqa.core.results import CaseResult, RunInfo

RUN_INFO_FILE = "run.json"
RESULTS_DIR = "results"
ALLURE_RESULTS_DIR = "allure-results"
GATES_PAGE = "gates.html"  # the decision and gate table, Allure's global attachment
ALLURE_REPORT_DIR = "allure-report"


class RunFolderError(CrmqaError):
    """A run folder is missing or holds unreadable files."""


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def read_run_info(run_dir: Path) -> RunInfo:
    """Read run.json of a run folder."""
    path = run_dir / RUN_INFO_FILE
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a run folder (it does not exist)")
    if not path.is_file():
        raise RunFolderError(f"{run_dir} is not a run folder: it has no {RUN_INFO_FILE}")
    try:
        return RunInfo.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        raise RunFolderError(f"{path}: not a crmqa run record: {_first_error(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path}: cannot be read: {error}") from None


def read_results(run_dir: Path) -> tuple[RunInfo, list[CaseResult]]:
    """Read a run folder back (run.json and results/*.jsonl) to evaluate it again.

    Files are read in name order and lines in file order; blank lines are skipped. A line
    that is not a case result is reported as `file:line: problem`.
    """
    run_dir = Path(run_dir)
    run_info = read_run_info(run_dir)
    results = read_case_results(run_dir)
    return run_info, results


def read_case_results(run_dir: Path) -> list[CaseResult]:
    """Every worker's case results in a run folder (results/*.jsonl), in name and line order.

    Lines are split on "\n" only: a CRM's text may hold U+2028 or U+0085, which `splitlines`
    would also cut at, in the middle of a result.
    """
    results: list[CaseResult] = []
    for path in sorted((Path(run_dir) / RESULTS_DIR).glob("*.jsonl")):
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as error:
            raise RunFolderError(f"{path}: cannot be read: {error}") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                results.append(CaseResult.model_validate_json(line))
            except ValidationError as error:
                raise RunFolderError(
                    f"{path}:{number}: not a case result: {_first_error(error)}"
                ) from None
    return results
