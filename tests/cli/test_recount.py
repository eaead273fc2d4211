"""pytest's own counts follow the concluded outcomes: broken cases are not counted as failed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from crmqa.pytest_plugin.finish import recount


def report(history: str | None, when: str = "call") -> Any:
    properties = [("crmqa_outcome", "failed")] + ([("crmqa_history", history)] if history else [])
    return SimpleNamespace(when=when, user_properties=properties)


def test_broken_cases_leave_the_failed_and_skipped_counts() -> None:
    failed, blamed, blocked, plain = report("a"), report("b"), report("c"), report(None)
    setup = report("b", when="setup")
    stats: dict[str, list[Any]] = {"failed": [failed, blamed, plain], "skipped": [blocked],
                                   "": [setup]}
    recount(stats, {"b", "c"})
    assert stats == {"failed": [failed, plain], "broken": [blamed, blocked], "": [setup]}


def test_a_count_left_empty_is_removed_so_pytest_does_not_colour_the_line_red() -> None:
    only = report("b")
    stats: dict[str, list[Any]] = {"failed": [only], "passed": [report("x")]}
    recount(stats, {"b"})
    assert "failed" not in stats and stats["broken"] == [only] and len(stats["passed"]) == 1
