"""How the engine tells a report what happens: step scopes and attachments.

The pytest plugin passes one that keeps Allure steps (crmqa.reports.allure_case); tests pass
a recording one; the default does nothing. If the object a `step()` scope yields has a
`set_result(step_result)` method, the engine calls it before the scope closes, so a reporter
can mark the step failed or broken without the engine raising through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from crmqa.core.results import Attachment


class Reporter(Protocol):
    """Receives step scopes and evidence while a case runs."""

    def step(self, title: str) -> AbstractContextManager[Any]:
        """A scope around one step; attachments made inside belong to it."""
        ...

    def attach(self, attachment: Attachment) -> None:
        """Evidence kept for the current step (already redacted)."""
        ...


class NullReporter:
    """The default reporter: reports nothing, costs nothing."""

    def step(self, title: str) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def attach(self, attachment: Attachment) -> None:
        return None


class RecordingReporter:
    """Keeps step titles and attachments in memory (for tests and simple tools)."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.attachments: list[tuple[str, Attachment]] = []
        self.results: dict[str, Any] = {}
        self._current: list[str] = []

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Any]:
        self.steps.append(title)
        self._current.append(title)
        try:
            yield _ResultSlot(self, title)
        finally:
            self._current.pop()

    def attach(self, attachment: Attachment) -> None:
        self.attachments.append((self._current[-1] if self._current else "", attachment))


class _ResultSlot:
    def __init__(self, reporter: RecordingReporter, title: str) -> None:
        self._reporter = reporter
        self._title = title

    def set_result(self, step_result: Any) -> None:
        self._reporter.results[self._title] = step_result
