"""One case's Allure result, written by crmqa itself from what the engine reported.

allure-pytest builds a result through a dozen pytest hooks per test and writes it through
attrs and a pure-Python JSON encoder: about 5 ms a case, more than a whole API check costs.
crmqa knows everything a case's result holds (the case, its `CaseResult`, the steps the engine
reported), so it records the steps in memory while the case runs (`AllureSteps`, the engine's
reporter) and writes one JSON file per case (`write_result`), in the format and with the
content allure-pytest wrote: the same names, labels, links, parameters, steps, attachments
and history ids (tests/reports/test_allure_results.py holds that).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allure_commons.utils import represent

from crmqa.core.results import CRMQA_STEP_NAMES, Attachment, CaseResult, Outcome, StepResult
from crmqa.reports.i18n import Gettext, gettext_for, state_word

HISTORY_LABEL = "crmqa_history_id"
ALLURE_SEVERITIES = frozenset({"blocker", "critical", "normal", "minor", "trivial"})

# Allure's attachment types (mime type -> file extension); anything else is kept as text.
_EXTENSIONS = {
    "text/plain": "txt", "text/csv": "csv", "text/tab-separated-values": "tsv",
    "text/uri-list": "uri", "text/html": "html", "application/xml": "xml",
    "application/json": "json", "application/yaml": "yaml",
    "application/vnd.tcpdump.pcap": "pcap", "application/zip": "zip", "image/png": "png",
    "image/jpg": "jpg", "image/svg+xml": "svg", "image/gif": "gif", "image/bmp": "bmp",
    "image/tiff": "tiff", "video/mp4": "mp4", "video/ogg": "ogg", "video/webm": "webm",
    "application/pdf": "pdf",
}

# A step that did not pass reads "<kind>: <message>", as allure-pytest showed the exception
# that ended it; the kinds are the ones crmqa's steps have always ended with.
STEP_MESSAGE_PREFIX = {
    Outcome.FAILED: "crmqa.pytest_plugin.allure_bridge._StepFailed: ",
    Outcome.BROKEN: "crmqa.pytest_plugin.allure_bridge._StepBroken: ",
}
_SKIPPED_STEP_PREFIX = "crmqa.pytest_plugin.allure_bridge._StepSkipped: "
_STEP_STATUS = {Outcome.PASSED: "passed", Outcome.FAILED: "failed", Outcome.BROKEN: "broken"}


def now_ms() -> int:
    """Allure's clock: milliseconds since the epoch."""
    return int(time.time() * 1000)


class _StepScope:
    """What `AllureSteps.step` yields: the engine hands it the step's result."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: StepResult | None = None

    def set_result(self, step_result: StepResult) -> None:
        self.result = step_result


@dataclass
class RecordedCase:
    """What the engine reported for one case: its steps and the attachments outside them."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    # each step the engine reported with its result, so that its name can be given in the
    # run's language when the result is written
    reported: list[tuple[dict[str, Any], StepResult]] = field(default_factory=list)


class AllureSteps:
    """Engine reporter: each step becomes an Allure step in memory; evidence is copied to
    `results_dir` as it comes (Allure reads attachments from files next to the results).

    The engine catches every failure itself and hands the step's result to the scope, so a
    step's status is crmqa's step outcome. `progress`, when given, shows a long step's
    progress lines (a load's) on the console. `take()` hands over one case's record.
    """

    def __init__(self, results_dir: Path,
                 progress: Callable[[str], None] | None = None) -> None:
        self.results_dir = results_dir
        self.progress = progress
        self._record = RecordedCase()
        self._open: list[dict[str, Any]] = []
        self._dir_ready = False

    @contextmanager
    def step(self, title: str) -> Iterator[_StepScope]:
        step: dict[str, Any] = {"name": title, "status": "passed", "start": now_ms()}
        (self._open[-1].setdefault("steps", []) if self._open else self._record.steps).append(
            step)
        self._open.append(step)
        scope = _StepScope()
        try:
            yield scope
        finally:
            self._open.pop()
            step["stop"] = now_ms()
            _set_step_status(step, scope.result)
            if scope.result is not None:
                self._record.reported.append((step, scope.result))

    def attach(self, attachment: Attachment) -> None:
        extension = _EXTENSIONS.get(attachment.mime_type)
        mime = attachment.mime_type if extension else "text/plain"
        source = f"{uuid.uuid4()}-attachment.{extension or 'txt'}"
        if attachment.path:
            self._write(source, lambda target: shutil.copy2(attachment.path or "", target))
        elif attachment.text is not None:
            text = attachment.text
            self._write(source, lambda target: Path(target).write_bytes(text.encode("utf-8")))
        else:
            return
        entry = {"name": attachment.name, "source": source, "type": mime}
        (self._open[-1].setdefault("attachments", []) if self._open
         else self._record.attachments).append(entry)

    def take(self) -> RecordedCase:
        """The steps and attachments reported since the last call; starts a new record."""
        record, self._record, self._open = self._record, RecordedCase(), []
        return record

    def _write(self, name: str, write: Callable[[str], object]) -> None:
        if not self._dir_ready:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            self._dir_ready = True
        target = self.results_dir / name
        temporary = target.with_name(name + ".tmp")
        write(str(temporary))
        os.replace(temporary, target)


def _set_step_status(step: dict[str, Any], result: StepResult | None) -> None:
    if result is None or result.outcome is Outcome.PASSED:
        return
    message = result.message or result.outcome.value.replace("_", " ")
    status = _STEP_STATUS.get(result.outcome)
    if status is None:  # blocked, not applicable, not run
        step["status"] = "skipped"
        step["statusDetails"] = {"message": f"{_SKIPPED_STEP_PREFIX}{message}\n"}
    else:
        step["status"] = status
        step["statusDetails"] = {"message": f"{STEP_MESSAGE_PREFIX[result.outcome]}{message}\n"}


def step_title_in(step: StepResult, case: Any, lang: str, _: Gettext) -> str:
    """A step's title as the engine words it (`4. search by name`, `1. setup: lead.create`),
    in `lang`: the phase and the steps crmqa adds itself (clean-up, manual check) through the
    catalogue, the suite's step names through its translations (a name with templates is
    shown as rendered)."""
    if step.name in CRMQA_STEP_NAMES:
        name = _(step.name)
    else:
        name = case.step_name_in(step.name, lang)
    phase = f"{state_word(step.phase, _)}: " if step.phase not in ("step", "manual") else ""
    return f"{step.number}. {phase}{name}"


def _name_steps_in(record: RecordedCase, case: Any, lang: str) -> None:
    if lang == "en":  # the engine's titles are the English ones
        return
    _ = gettext_for(lang)
    for step, result in record.reported:
        step["name"] = step_title_in(result, case, lang, _)


@dataclass(frozen=True)
class CaseIdentity:
    """Where a case sits, as Allure names tests: `package#name`, the title path, labels
    every result of this process carries (host, thread, framework, language)."""

    full_name: str
    package: str
    title_path: list[str]
    process_labels: tuple[tuple[str, str], ...]


def case_labels(case: Any, history: str, *, allure_severity: str | None,
                result: CaseResult | None, marker_tags: list[str],
                lang: str = "en") -> list[dict[str, str]]:
    """epic = category, feature = module, story = title (in the run's language where the
    suite translated it), the report's tree (category, then module), severity, priority,
    requirements, and tags (the case's outcome and markers)."""
    category = str(case.category)
    labels = [("epic", category), ("feature", case.module), ("story", case.title_in(lang)),
              ("parentSuite", category), ("suite", case.module), ("as_id", case.id),
              (HISTORY_LABEL, history)]
    severity = allure_severity or case.severity
    if severity in ALLURE_SEVERITIES:
        labels.append(("severity", severity))
    labels.append(("priority", case.priority))
    labels += [("requirement", r) for r in case.requirements
               if not r.startswith(("http://", "https://"))]
    if result is not None:
        if result.outcome.value in ("blocked", "not_applicable"):
            labels.append(("tag", result.outcome.value))
        if result.leftovers:
            labels.append(("tag", "left-behind"))
        if result.waiver is not None:
            labels.append(("tag", "waived"))
    labels += [("tag", tag) for tag in marker_tags]
    return [{"name": name, "value": value} for name, value in labels]


def case_result(
    case: Any,
    history: str,
    params: dict[str, Any],
    identity: CaseIdentity,
    record: RecordedCase,
    *,
    status: str,
    status_details: dict[str, str] | None,
    start: int,
    stop: int,
    result: CaseResult | None,
    allure_severity: str | None = None,
    marker_tags: list[str] | None = None,
    link_url: Callable[[str, str], str] = lambda url, _kind: url,
    lang: str = "en",
) -> dict[str, Any]:
    """One case's result in the allure-results JSON format (empty fields left out, as
    allure-pytest leaves them out); the title in `lang` where the suite translated it."""
    data: dict[str, Any] = {"name": f"{case.id}: {case.title_in(lang)}", "status": status}
    _name_steps_in(record, case, lang)
    if status_details:
        data["statusDetails"] = status_details
    if record.steps:
        data["steps"] = record.steps
    if record.attachments:
        data["attachments"] = record.attachments
    if params:
        data["parameters"] = [{"name": str(k), "value": represent(v)}
                              for k, v in params.items()]
    data.update(start=start, stop=stop, uuid=str(uuid.uuid4()), historyId=history,
                testCaseId=history, fullName=identity.full_name)
    labels = case_labels(case, history, allure_severity=allure_severity, result=result,
                         marker_tags=marker_tags or [], lang=lang)
    labels += [{"name": name, "value": value} for name, value in identity.process_labels]
    labels.append({"name": "package", "value": identity.package})
    data["labels"] = labels
    links = [{"type": "requirement", "url": link_url(r, "requirement"), "name": r}
             for r in case.requirements if r.startswith(("http://", "https://"))]
    if links:
        data["links"] = links
    description = case.description
    if result is not None and result.waiver is not None:
        waiver = result.waiver
        description = gettext_for(lang)("Waived by %(owner)s until %(expires)s: %(reason)s") % {
            "owner": waiver.owner, "expires": waiver.expires, "reason": waiver.reason}
    if description:
        data["description"] = description
    if identity.title_path:
        data["titlePath"] = identity.title_path
    return data


def write_result(results_dir: Path, data: dict[str, Any]) -> Path:
    """Write one result file; atomically, so that a report read meanwhile never sees half."""
    return write_results(results_dir, [data])[0]


def write_results(results_dir: Path, results: list[dict[str, Any]]) -> list[Path]:
    """Write result files, each atomically (a temporary file, then a rename)."""
    os.makedirs(results_dir, exist_ok=True)
    folder = os.fspath(results_dir)
    written = []
    for data in results:
        target = os.path.join(folder, f"{data['uuid']}-result.json")
        temporary = target + ".tmp"
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(data, ensure_ascii=False))
        os.replace(temporary, target)
        written.append(Path(target))
    return written
