"""Errors crmqa raises, split by who is at fault.

- `PlanError`: the plan, suite or profile is wrong (exit code 3). Carries positioned issues.
- `EnvironmentProblem`: the CRM is down, slow or answers garbage (an environment problem,
  never counted as a product defect).
- `CrmqaError`: base for everything else crmqa reports to the user without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourcePosition:
    """Where a YAML node starts; line and column are 1-based as editors show them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class PlanIssue:
    """One problem found in a plan, suite, profile or result file."""

    message: str
    position: SourcePosition | None = None
    suggestion: str | None = None
    source_line: str | None = None

    def format(self) -> str:
        where = f"{self.position}: " if self.position else ""
        text = f"{where}{self.message}"
        if self.suggestion:
            text += f" ({self.suggestion})"
        if self.source_line is not None and self.position is not None:
            shown, offset = _window(self.source_line, self.position.column - 1)
            text += f"\n    {shown}\n    {' ' * offset}^"
        return text


#: Characters of a source line shown around the column an issue points at.
_LINE_WINDOW = 100


def _window(line: str, column: int) -> tuple[str, int]:
    """A long line cut to the part around `column` (a minified file, a pasted blob), and
    where the caret goes in what is shown."""
    if len(line) <= _LINE_WINDOW:
        return line, column
    start = max(0, min(column - _LINE_WINDOW // 2, len(line) - _LINE_WINDOW))
    end = start + _LINE_WINDOW
    shown = ("..." if start else "") + line[start:end] + ("..." if end < len(line) else "")
    return shown, column - start + (3 if start else 0)


class CrmqaError(Exception):
    """An error reported to the user as a message, never as a traceback."""

    exit_code = 3


class PlanError(CrmqaError):
    """The plan (or a suite, profile, target or manual-result file) is invalid."""

    exit_code = 3

    def __init__(self, issues: list[PlanIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(issue.format() for issue in issues))


class EnvironmentProblem(CrmqaError):
    """The target cannot be used: unreachable, timing out, or answering garbage."""

    exit_code = 4


class StepFailure(Exception):
    """Raised inside the engine when a step's expectations fail (a product defect)."""
