"""The one place crmqa meets allure-pytest: crmqa writes its cases' results, allure-pytest
keeps the ordinary pytest tests of the same session.

A case's result is written by crmqa (crmqa.reports.allure_case) when the case's last phase
is reported: its status comes from pytest's report exactly as allure-pytest reads it (a
CaseFailed is "failed", any other exception "broken", a skip "skipped"), its content from
the case, its `CaseResult` and the steps the engine reported. allure-pytest's listener is
wrapped so that it leaves crmqa's case items alone and reports every other test as before.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from crmqa.reports.allure_case import (
    AllureSteps,
    CaseIdentity,
    RecordedCase,
    case_result,
    now_ms,
    write_results,
)

if TYPE_CHECKING:
    from crmqa.core.results import CaseResult

_NOT_TAGS = {"usefixtures", "filterwarnings", "skip", "skipif", "xfail", "parametrize"}


class _StepFailed(AssertionError):
    """The kind a failed step's message names (kept: reports and categories read it)."""


class _StepBroken(Exception):
    """The kind a broken step's message names."""


class _StepSkipped(Exception):
    """The kind a skipped step's message names."""


@dataclass
class CaseReport:
    """What one case item carries to its Allure result while pytest runs it."""

    start: int = 0
    stop: int = 0
    status: str | None = None
    details: dict[str, str] | None = None
    record: RecordedCase = field(default_factory=RecordedCase)
    result: CaseResult | None = None
    allure_severity: str | None = None


def allure_results_dir(config: pytest.Config) -> Path:
    return Path(config.option.allure_report_dir)


def process_labels() -> tuple[tuple[str, str], ...]:
    """host, thread, framework and language: what allure-pytest puts on every result."""
    major = platform.python_version_tuple()[0]
    return (("host", socket.gethostname()),
            ("thread", f"{os.getpid()}-{threading.current_thread().name}"),
            ("framework", "pytest"),
            ("language", f"{platform.python_implementation().lower()}{major}"))


def identity_of(item: pytest.Item, labels: tuple[tuple[str, str], ...]) -> CaseIdentity:
    """Allure's names for an item, from its node id (`plans/x.yaml::ID[0]`)."""
    path, _, name = item.nodeid.partition("::")
    segments = path.split("/")
    module = segments[-1].rsplit(".", 1)[0]
    package = ".".join(filter(None, [*segments[:-1], module]))
    return CaseIdentity(full_name=f"{package}#{name.split('[', 1)[0]}", package=package,
                        title_path=[s for s in segments if s], process_labels=labels)


def marker_tags(item: pytest.Item) -> list[str]:
    """The item's markers without arguments (category, module, severity, tags) as tags."""
    return [mark.name for mark in item.iter_markers()
            if mark.name not in _NOT_TAGS and not mark.args and not mark.kwargs]


class CaseResultsWriter:
    """A pytest plugin: writes the Allure result of every crmqa case item.

    A case's result is composed when pytest reports it and kept; every `BATCH` results are
    written together, and `close()` (at the end of the session, before the run is concluded,
    after Ctrl-C too) writes the rest. Not a thread: with the GIL, a writer thread woke and
    took the interpreter from the cases for every result (thousands of lock handoffs on
    1,000 cases, more CPU than the writing itself); a batch costs the same writes at once.
    A result's case is already in the run's JSON lines (flushed per case) when it waits here.
    """

    BATCH = 64

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results_dir = allure_results_dir(config)
        self._labels = process_labels()
        patterns = dict(getattr(config.option, "allure_link_pattern", None) or [])
        self._link_patterns: dict[str, str] = patterns
        self._pending: list[dict[str, Any]] = []
        self._failure: OSError | None = None

    def close(self) -> None:
        """Write every result still pending; a write that failed is raised here."""
        self._flush()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            try:
                write_results(self.results_dir, pending)
            except OSError as error:  # kept for close(): the run must not end silently
                self._failure = self._failure or error

    def steps_reporter(self, progress: Any = None) -> AllureSteps:
        return AllureSteps(self.results_dir, progress=progress)

    def _link(self, url: str, kind: str) -> str:
        return self._link_patterns.get(kind, "{}").format(url)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        allure = getattr(item, "allure", None)
        if not isinstance(allure, CaseReport):
            return
        _take_status(allure, report, call)
        if report.when == "teardown":
            self._write(item, allure)

    def _write(self, item: Any, allure: CaseReport) -> None:
        loaded_case = item.loaded_case
        result = allure.result
        history = result.history_id if result is not None else item.history
        stop = allure.stop or now_ms()
        data = case_result(
            loaded_case.case, history, item.params, identity_of(item, self._labels),
            allure.record, status=allure.status or "skipped", status_details=allure.details,
            start=allure.start or stop, stop=stop, result=result,
            allure_severity=allure.allure_severity, marker_tags=marker_tags(item),
            link_url=self._link, lang=item.config.option.crmqa_lang or "en",
        )
        self._pending.append(data)
        # the item lives until the session ends; what it carried for its result need not
        allure.record, allure.result, item.result = RecordedCase(), None, None
        if len(self._pending) >= self.BATCH:
            self._flush()


def _take_status(allure: CaseReport, report: pytest.TestReport,
                 call: pytest.CallInfo[None]) -> None:
    """The test's status from one phase's report, read as allure-pytest reads it."""
    status = "failed" if report.failed else "passed" if report.passed else "skipped"
    details: dict[str, str] | None = None
    wasxfail = getattr(report, "wasxfail", None)
    if call.excinfo is not None:
        message = call.excinfo.exconly()
        if wasxfail is not None:
            message = (f"XFAIL {wasxfail}" if wasxfail else "XFAIL") + "\n\n" + message
        details = {"message": message}
        if status != "skipped":
            details["trace"] = report.longreprtext
            if not isinstance(call.excinfo.value, AssertionError | pytest.fail.Exception):
                status = "broken"
    if status == "passed" and wasxfail is not None:
        details = {"message": f"XPASS {wasxfail}" if wasxfail else "XPASS"}
    if report.when == "setup" or (report.when == "call" and allure.status == "passed") or (
            report.when == "teardown" and status in ("failed", "broken")
            and allure.status == "passed"):
        allure.status, allure.details = status, details


def _is_case(item: Any) -> bool:
    return isinstance(getattr(item, "allure", None), CaseReport)


class OrdinaryTestsOnly:
    """allure-pytest's listener, for every test but crmqa's case items (crmqa writes those).

    Registered in the listener's place under its name; the hooks are the listener's own,
    called unless the item is a case. Fixture hooks always pass through: a case item has no
    fixtures, and allure-pytest keys them by fixture.
    """

    def __init__(self, listener: Any) -> None:
        self.listener = listener

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any) -> Generator[Any]:
        if _is_case(item):
            yield
            return
        yield from self.listener.pytest_runtest_protocol(item, nextitem)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[Any]:
        if _is_case(item):
            yield
            return
        yield from self.listener.pytest_runtest_setup(item)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[Any]:
        if _is_case(item):
            yield
            return
        yield from self.listener.pytest_runtest_call(item)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[Any]:
        if _is_case(item):
            yield
            return
        yield from self.listener.pytest_runtest_teardown(item)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Generator[Any]:
        if _is_case(item):
            yield
            return
        yield from self.listener.pytest_runtest_makereport(item, call)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> Generator[Any]:
        yield from self.listener.pytest_runtest_logfinish(nodeid, location)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Generator[Any]:
        yield from self.listener.pytest_fixture_setup(fixturedef, request)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_post_finalizer(self, fixturedef: Any) -> Generator[Any]:
        yield from self.listener.pytest_fixture_post_finalizer(fixturedef)


# The listener's pytest hooks that OrdinaryTestsOnly passes on (allure-pytest 2.x);
# tests/reports/test_allure_results.py fails when an allure-pytest upgrade changes them.
WRAPPED_HOOKS = frozenset(name for name in vars(OrdinaryTestsOnly) if name.startswith("pytest_"))


def listener_hooks(listener_class: type) -> set[str]:
    """The pytest hooks a listener class implements."""
    return {name for name in dir(listener_class) if name.startswith("pytest_")}


def leave_cases_to_crmqa(config: pytest.Config) -> None:
    """Put `OrdinaryTestsOnly` in the place of allure-pytest's listener, if it is active."""
    manager = config.pluginmanager
    listener = manager.get_plugin("allure_listener")
    if listener is None or isinstance(listener, OrdinaryTestsOnly):
        return
    manager.unregister(listener)
    manager.register(OrdinaryTestsOnly(listener), "allure_listener")
