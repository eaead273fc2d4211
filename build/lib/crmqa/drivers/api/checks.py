"""What the API driver can tell is wrong with a step before anything is sent.

Run by validation (`crmqa validate`, `crmqa run`, pytest collection), without a network:
arguments an operation does not take (`with: {qeury: ...}`), and data files that are not there.
"""

from __future__ import annotations

import difflib
from typing import Any

from crmqa.drivers.base import StepCheckContext, StepProblem
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.models import OpStep, RequestStep
from crmqa.plan.templating import has_template

# The arguments each canonical operation takes in `with:` (an adapter may take others).
OPERATION_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "create": ("data",),
    "get": ("id",),
    "update": ("id", "data"),
    "delete": ("id",),
    "list": ("page", "page_size", "sort", "filters", "all"),
    "search": ("query", "filters", "sort", "page", "page_size", "all"),
    "import": ("file", "rows"),
    "export": ("query", "filters"),
    "convert": ("id", "data"),
}


def check_api_step(step: Any, context: StepCheckContext) -> list[StepProblem]:
    """Problems with an `op:` or `request:` step on this target, found without a network."""
    if isinstance(step, OpStep):
        return _operation_problems(step, context)
    if isinstance(step, RequestStep):
        return [
            problem
            for field, name in step.request.files.items()
            for problem in _file_problems(name, ("request", "files", field), context)
        ]
    return []


def _operation_problems(step: OpStep, context: StepCheckContext) -> list[StepProblem]:
    problems: list[StepProblem] = []
    operation = step.op.split(".", 1)[1]
    allowed = OPERATION_ARGUMENTS.get(operation, ())
    if not getattr(context.profile, "adapter", None):  # an adapter may take other arguments
        for key in step.with_:
            if key not in allowed and not has_template(str(key)):
                close = difflib.get_close_matches(str(key), allowed, n=1)
                problems.append(StepProblem(
                    f"{step.op} takes no argument '{key}' (it takes "
                    f"{', '.join(allowed) or 'none'})",
                    ("with", key),
                    f"did you mean '{close[0]}'?" if close else None,
                ))
    if operation == "import" and isinstance(step.with_.get("file"), str):
        problems += _file_problems(step.with_["file"], ("with", "file"), context)
    return problems


def _file_problems(name: str, where: tuple[str | int, ...],
                   context: StepCheckContext) -> list[StepProblem]:
    if has_template(name):
        return []
    folders = search_folders(context.base_dir)
    if find_data_file(name, folders) is None:
        return [StepProblem(missing_file_message(name, folders), where)]
    return []
