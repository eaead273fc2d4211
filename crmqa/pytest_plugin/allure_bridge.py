"""The one place crmqa talks to allure-pytest: labels, steps, attachments, history ids."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import allure
import pytest

from crmqa.core.results import Attachment, CaseResult, Outcome, StepResult
from crmqa.engine.engine import history_id
from crmqa.plan.loader import LoadedCase

HISTORY_LABEL = "crmqa_history_id"
_ALLURE_SEVERITIES = {level.value for level in allure.severity_level}


def label_case(
    loaded_case: LoadedCase,
    plan_id: str,
    params: dict[str, Any],
    result: CaseResult | None = None,
    allure_severity: str | None = None,
    lang: str = "en",
) -> None:
    """epic = category, feature = module, story = title (in the run's language where the
    suite translated it), plus severity, tags, id and links."""
    case = loaded_case.case
    if result is None:
        title = case.title_in(lang)
        allure.dynamic.title(f"{case.id}: {title}")
        allure.dynamic.epic(str(case.category))
        allure.dynamic.feature(case.module)
        allure.dynamic.story(title)
        # The report's tree: category, then module (instead of the plan file's name).
        allure.dynamic.parent_suite(str(case.category))
        allure.dynamic.suite(case.module)
        allure.dynamic.id(case.id)
        allure.dynamic.label(HISTORY_LABEL, history_id(plan_id, case.id, params))
        severity = allure_severity or case.severity
        if severity in _ALLURE_SEVERITIES:
            allure.dynamic.severity(allure.severity_level(severity))
        allure.dynamic.label("priority", case.priority)
        # Tags need no call here: allure-pytest reports the item's markers (tags among them).
        for requirement in case.requirements:
            if requirement.startswith(("http://", "https://")):
                allure.dynamic.link(requirement, name=requirement, link_type="requirement")
            else:
                allure.dynamic.label("requirement", requirement)
        for name, value in params.items():
            allure.dynamic.parameter(name, value)
        if case.description:
            allure.dynamic.description(case.description)
        return
    if result.outcome.value in ("blocked", "not_applicable"):
        allure.dynamic.tag(result.outcome.value)
    if result.leftovers:
        allure.dynamic.tag("left-behind")
    if result.waiver is not None:
        allure.dynamic.tag("waived")
        allure.dynamic.description(
            f"Waived by {result.waiver.owner} until {result.waiver.expires}: {result.waiver.reason}"
        )


class _StepFailed(AssertionError):
    """Ends an Allure step as failed (allure-pytest reads AssertionError as "failed")."""


class _StepBroken(Exception):
    """Ends an Allure step as broken (any other exception)."""


class _StepSkipped(pytest.skip.Exception):  # type: ignore[name-defined, misc]
    """Ends an Allure step as skipped (blocked, not applicable or not run)."""


class _StepScope:
    """What `AllureReporter.step` yields: the engine hands it the step's result."""

    def __init__(self) -> None:
        self.result: StepResult | None = None

    def set_result(self, step_result: StepResult) -> None:
        self.result = step_result


def _status_exception(result: StepResult | None) -> BaseException | None:
    """The exception that makes allure-pytest record the step with crmqa's outcome."""
    if result is None or result.outcome is Outcome.PASSED:
        return None
    message = result.message or result.outcome.value.replace("_", " ")
    if result.outcome is Outcome.FAILED:
        return _StepFailed(message)
    if result.outcome is Outcome.BROKEN:
        return _StepBroken(message)
    return _StepSkipped(message)


class AllureReporter:
    """Engine reporter: each YAML step is an Allure step; evidence becomes attachments.

    The engine catches every failure itself, so no exception would leave the step and
    allure-pytest would mark every step passed. The scope takes the step's result instead,
    and the step ends with an exception of the matching kind, caught right here, so that
    Allure's step statuses are crmqa's step outcomes.

    `progress`, when given, shows a long step's progress lines (a load's) on the console.
    """

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        self.progress = progress

    @contextmanager
    def step(self, title: str) -> Iterator[_StepScope]:
        scope = _StepScope()
        try:
            with allure.step(title):
                yield scope
                status = _status_exception(scope.result)
                if status is not None:
                    raise status
        except (_StepFailed, _StepBroken, _StepSkipped):
            pass

    def attach(self, attachment: Attachment) -> None:
        kind = _attachment_type(attachment.mime_type)
        if attachment.path:
            allure.attach.file(attachment.path, name=attachment.name, attachment_type=kind)
        elif attachment.text is not None:
            allure.attach(attachment.text, name=attachment.name, attachment_type=kind)


def _attachment_type(mime: str) -> Any:
    for kind in allure.attachment_type:
        if kind.mime_type == mime:
            return kind
    return allure.attachment_type.TEXT


def stamp_history_ids(allure_dir: Path) -> int:
    """allure-pytest derives historyId from the node id; crmqa's is plan id + case id + params.

    Rewriting it after the run keeps Allure trends stable when a plan file moves.
    """
    count = 0
    for path in allure_dir.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        for label in data.get("labels", []):
            if label.get("name") == HISTORY_LABEL:
                data["historyId"] = label["value"]
                data["testCaseId"] = label["value"]
                path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
                count += 1
                break
    return count
