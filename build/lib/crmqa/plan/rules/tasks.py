"""Rules about measured UX tasks: every `ui: task_start` is ended by a `ui: task_end`.

A task left open would measure nothing and say nothing (its budgets live on `task_end`), so it
is refused before the run, at the step that starts it (docs/ux.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from crmqa.core.errors import PlanIssue
from crmqa.plan.rules import RuleContext, plan_rule
from crmqa.plan.sources import PHASES


@plan_rule
def tasks_are_ended(context: RuleContext) -> Iterator[PlanIssue]:
    """In each phase of a case, `task_start` and `task_end` alternate, starting with a start."""
    for case in context.cases:
        for phase in PHASES:
            open_at: int | None = None
            for index, step in enumerate(case.steps(phase)):
                action = step.get("ui") if isinstance(step, dict) else None
                if action == "task_start":
                    if open_at is not None:
                        yield case.issue(
                            f"a task starts while the task of {phase}[{open_at}] is still "
                            "running: end it with ui: task_end first", phase, index, "ui")
                    open_at = index
                elif action == "task_end":
                    if open_at is None:
                        yield case.issue("ui: task_end without a task: start one with "
                                         "ui: task_start before it", phase, index, "ui")
                    open_at = None
            if open_at is not None:
                yield case.issue("this task is never ended: add a ui: task_end step (with its "
                                 "budgets) after the task's last step", phase, open_at, "ui")
