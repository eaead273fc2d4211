"""What the load driver can tell is wrong with a `load:` before anything runs.

Its steps are ordinary steps: the API driver checks them too (validation walks them through
crmqa.plan.case_sections). This adds what only a load cannot do: upload files (a multipart body
per virtual user is not what Locust's client sends here).
"""

from __future__ import annotations

from typing import Any

from crmqa.drivers.base import StepCheckContext, StepProblem
from crmqa.load.model import LoadSpec, load_steps
from crmqa.plan.models import OpStep, RequestStep


def check_load(section: Any, context: StepCheckContext) -> list[StepProblem]:
    """Problems of a `load:` section on this target's profile, found without a network."""
    if not isinstance(section, LoadSpec):
        return []
    problems: list[StepProblem] = []
    for path, step in load_steps(section):
        if isinstance(step, OpStep) and step.op.endswith(".import"):
            problems.append(StepProblem(
                f"{step.op} uploads a file, which a load step does not do: import in the "
                "case's setup, or load the CRM with create", (*path, "op")))
        if isinstance(step, RequestStep) and step.request.files:
            problems.append(StepProblem(
                "a load step sends no file uploads (files:)", (*path, "request", "files")))
    return problems
