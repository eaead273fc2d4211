"""Questionnaires people filled in, scored as a step: `questionnaire: {scale: sus, ...}`.

Usability is also what users say. The System Usability Scale (SUS, John Brooke 1986) asks ten
questions, each answered 1 (strongly disagree) to 5 (strongly agree); odd items are worded
positively, even items negatively. A respondent's score is 2.5 times the sum of (answer - 1)
for odd items and (5 - answer) for even ones: 0 to 100. The product's score is the mean; 68
is the usual average. The answers come from a CSV file the test team keeps with the plan,
as manual results do: a header row, then one respondent a line, with columns `q1` ... `q10`
(other columns, such as `respondent` or `role`, are kept in the evidence).

The file is read and checked before the run (the step check), so a wrong answer is a plan
problem at its file and line, never a failure of the product.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmqa.core.results import Attachment, CheckResult
from crmqa.drivers.base import StepCheckContext, StepContext, StepOutput, StepProblem
from crmqa.drivers.registry import StepDefect
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.steps import QuestionnaireStep

if TYPE_CHECKING:
    from crmqa.drivers.registry import DriverEnvironment, DriverRegistry

SUS_ITEMS = tuple(f"q{n}" for n in range(1, 11))


@dataclass
class Respondent:
    """One line of the results file: where it is, what was answered, the score."""

    line: int
    answers: dict[str, int]
    extra: dict[str, str]
    score: float


class QuestionnaireError(ValueError):
    """A results file that cannot be scored; the message names the line and the column."""


def sus_score(answers: dict[str, int]) -> float:
    """One respondent's SUS score, 0-100, from answers q1..q10 (each 1-5)."""
    total = 0
    for number, item in enumerate(SUS_ITEMS, start=1):
        answer = answers[item]
        total += (answer - 1) if number % 2 else (5 - answer)
    return total * 2.5


def read_sus(text: str, display: str) -> list[Respondent]:
    """The respondents of a SUS results file; `QuestionnaireError` names what is wrong where."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [item for item in SUS_ITEMS if item not in header]
    if missing:
        raise QuestionnaireError(f"{display}:1: the header has no column {', '.join(missing)} "
                                 "(SUS needs q1 ... q10)")
    out: list[Respondent] = []
    for index, row in enumerate(reader, start=2):
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not any(clean.values()):
            continue  # a blank line
        answers: dict[str, int] = {}
        for item in SUS_ITEMS:
            value = clean.get(item, "")
            if value not in ("1", "2", "3", "4", "5"):
                raise QuestionnaireError(
                    f"{display}:{index}: {item} is {value!r}; a SUS answer is 1, 2, 3, 4 or 5")
            answers[item] = int(value)
        extra = {k: v for k, v in clean.items() if k not in SUS_ITEMS}
        out.append(Respondent(line=index, answers=answers, extra=extra,
                              score=sus_score(answers)))
    return out


def _results_file(step: QuestionnaireStep, base_dir: Path) -> Path:
    folders = search_folders(base_dir)
    found = find_data_file(step.questionnaire.file, folders)
    if found is None:
        raise QuestionnaireError(missing_file_message(step.questionnaire.file, folders))
    return found


def _load(step: QuestionnaireStep, base_dir: Path) -> tuple[Path, list[Respondent]]:
    path = _results_file(step, base_dir)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionnaireError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    return path, read_sus(text, path.name)


def check_questionnaire_step(step: Any, context: StepCheckContext) -> list[StepProblem]:
    """The results file exists and every answer is one a respondent can give."""
    if not isinstance(step, QuestionnaireStep):
        return []
    try:
        _load(step, context.base_dir)
    except QuestionnaireError as exc:
        return [StepProblem(str(exc), ("questionnaire", "file"))]
    return []


class QuestionnaireDriver:
    """Scores `questionnaire:` steps; it asks nothing of the CRM."""

    name = "questionnaire"

    def __init__(self, env: DriverEnvironment) -> None:
        self.base_dir = env.base_dir or Path.cwd()

    def handles(self, step: Any) -> bool:
        return isinstance(step, QuestionnaireStep)

    def needs(self, step: Any) -> list[str]:
        return []

    def run(self, step: Any, ctx: StepContext) -> StepOutput:
        assert isinstance(step, QuestionnaireStep)
        spec = step.questionnaire
        try:
            path, respondents = _load(step, self.base_dir)
        except QuestionnaireError as exc:
            raise StepDefect(str(exc)) from None
        scores = [r.score for r in respondents]
        mean = round(sum(scores) / len(scores), 1) if scores else None
        checks = [
            CheckResult(name="SUS respondents", ok=len(scores) >= spec.min_respondents,
                        expected=f"at least {spec.min_respondents}", actual=len(scores),
                        message=f"{path.name}: {len(scores)} respondent(s), fewer than the "
                        f"{spec.min_respondents} the plan needs to speak for the users"),
            CheckResult(name="SUS score", ok=mean is not None and mean >= spec.at_least,
                        expected=f"at least {spec.at_least:g}", actual=mean,
                        message=f"{path.name}: the mean SUS score {mean} is below "
                        f"{spec.at_least:g}"),
        ]
        for check in checks:
            if check.ok:
                check.message = ""
        table = io.StringIO()
        writer = csv.writer(table)
        extra = sorted({k for r in respondents for k in r.extra})
        writer.writerow(["line", *extra, *SUS_ITEMS, "score"])
        for r in respondents:
            writer.writerow([r.line, *(r.extra.get(k, "") for k in extra),
                             *(r.answers[i] for i in SUS_ITEMS), r.score])
        return StepOutput(
            data={"score": mean, "respondents": len(scores), "scores": scores},
            outcome="ok", checks=checks,
            attachments=[Attachment(name=f"SUS answers ({path.name})", mime_type="text/csv",
                                    text=table.getvalue())],
            summary=f"SUS {mean} from {len(scores)} respondent(s) in {path.name}",
        )

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        return None  # reads a file; creates nothing

    def close(self) -> None:
        return None


def create_questionnaire_driver(env: DriverEnvironment) -> QuestionnaireDriver:
    """The registry's factory."""
    return QuestionnaireDriver(env)


def register(registry: DriverRegistry) -> None:
    """The questionnaire driver for `questionnaire:` steps (a built-in provider)."""
    registry.register("questionnaire", (QuestionnaireStep,), create_questionnaire_driver,
                      check=check_questionnaire_step)
