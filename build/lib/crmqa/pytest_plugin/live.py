"""Live progress for `crmqa run`: one line per case as it finishes, instead of pytest's dots."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import pytest

_STYLE = {
    "passed": ("✔", "green"),
    "failed": ("✘", "red"),
    "broken": ("!", "yellow"),
    "blocked": ("⊘", "purple"),
    "not_applicable": ("-", "cyan"),
    "skipped": ("-", "cyan"),
}


def is_case_report(report: pytest.TestReport) -> bool:
    return any(name == "crmqa_outcome" for name, _ in report.user_properties)


class LiveProgress:
    """Registered on the controller when --crmqa-live is given; works with pytest-xdist too."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.done = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        if not is_case_report(report):
            return None
        return (report.outcome if report.when == "call" else "", "", "")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or not is_case_report(report):
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        self.done += 1
        props: dict[str, Any] = dict(report.user_properties)
        outcome = str(props.get("crmqa_outcome", report.outcome))
        symbol, colour = _STYLE.get(outcome, ("?", "white"))
        case_id = report.nodeid.split("::")[-1]
        title = str(props.get("crmqa_title", ""))[:56]
        reporter.ensure_newline()
        reporter.write_line(
            f" {symbol} {outcome:<14} {case_id:<26} {title:<56} {report.duration:6.2f}s",
            **{colour: True},
        )
        message = _first_message(report)
        if message:
            reporter.write_line(f"     {message[:200]}")
        left = props.get("crmqa_left_behind")
        if left:  # nothing fails silently: a passed case may still have left records behind
            reporter.write_line(f"     left behind: {str(left)[:200]}", yellow=True)


def _first_message(report: pytest.TestReport) -> str:
    if report.passed:
        return ""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    lines = str(report.longrepr or "").splitlines()
    return lines[1] if len(lines) > 1 else (lines[0] if lines else "")


def console_progress(config: pytest.Config) -> Callable[[str], None]:
    """A writer of progress lines (a load's users, req/s, p95, errors) to the console.

    The line goes to this process's own stderr with pytest's capture suspended for it, so it
    shows while the case runs, in a plain run and from pytest-xdist workers alike.
    """

    def write(text: str) -> None:
        capture = config.pluginmanager.getplugin("capturemanager")
        suspended = (capture.global_and_fixture_disabled() if capture is not None
                     else contextlib.nullcontext())
        with suspended:
            sys.stderr.write(f"     {text}\n")
            sys.stderr.flush()

    return write
