"""The options each UX action takes (docs/ux.md): read by the action and by the step check,
which runs before any browser starts."""

from __future__ import annotations

from typing import Any

# Budgets `task_end` understands, with their unit (for messages and the summary).
BUDGETS: dict[str, str] = {
    "steps": "", "clicks": "", "keystrokes": "", "page_loads": "", "time_s": "s",
    "load_ms": "ms", "lcp_ms": "ms", "cls": "",
}
START_OPTIONS = frozenset({"accessibility", "tags", "input", "viewport", "min_target_px"})
FEEDBACK_OPTIONS = frozenset({"within_s", "kind"})
OPTIONS_OF: dict[str, frozenset[str]] = {
    "task_start": START_OPTIONS, "task_end": frozenset(BUDGETS),
    "expect_feedback": FEEDBACK_OPTIONS, "expect_field_error": frozenset(),
}


def option_problems(action: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for every option a UX action does not take: the UI step check's part."""
    allowed = OPTIONS_OF.get(action)
    if allowed is None:
        return []
    return [(key, f"ui: {action} does not take '{key}'; it takes "
             + (", ".join(sorted(allowed)) or "no values"))
            for key in values if key not in allowed]
