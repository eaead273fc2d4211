"""How a measured task's checks are named, so that reports find them again.

The UI driver names each check of a UX task `task <task>: <what>` (`task add a lead: clicks`,
`task add a lead (phone 390x844): no horizontal scroll on lead_form`); the summary's UX section
reads them back from the results, whatever driver wrote them.
"""

from __future__ import annotations

PREFIX = "task "


def task_check_name(task: str, what: str) -> str:
    """The name of a task's check: `task <task>: <what>`."""
    return f"{PREFIX}{task}: {what}"


def split_task_check(name: str) -> tuple[str, str] | None:
    """(task, what) of a task check's name; None for any other check."""
    if not name.startswith(PREFIX) or ": " not in name:
        return None
    task, _, what = name[len(PREFIX):].rpartition(": ")
    return (task, what) if task and what else None
