"""UX acceptance without a browser: SUS scoring, the questionnaire step from plan to verdict
input, the UX actions' option checks, and how task checks are named for the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmqa.core.errors import PlanError
from crmqa.core.results import Outcome
from crmqa.core.tasks import split_task_check, task_check_name
from crmqa.drivers.base import StepCheckContext
from crmqa.drivers.questionnaire import QuestionnaireError, read_sus, sus_score
from crmqa.drivers.ui.checks import check_ui_step
from crmqa.engine.engine import Engine
from crmqa.engine.reporter import RecordingReporter
from crmqa.plan.loader import load_plan
from crmqa.plan.models import UiStep
from crmqa.profiles.loader import resolve_profile
from crmqa.validation import prepare_run

ROOT = Path(__file__).resolve().parents[2]


def test_sus_scores_the_way_brooke_defined_it() -> None:
    best = {f"q{n}": 5 if n % 2 else 1 for n in range(1, 11)}
    worst = {f"q{n}": 1 if n % 2 else 5 for n in range(1, 11)}
    neutral = {f"q{n}": 3 for n in range(1, 11)}
    assert (sus_score(best), sus_score(worst), sus_score(neutral)) == (100.0, 0.0, 50.0)
    rows = read_sus((ROOT / "fixtures/ux/sus_sandbox.csv").read_text(encoding="utf-8"), "f")
    assert [r.score for r in rows] == [80.0, 85.0, 70.0, 87.5, 67.5, 87.5]
    assert rows[0].extra == {"respondent": "R01", "role": "sales"} and rows[0].line == 2
    with pytest.raises(QuestionnaireError, match=r"f:3: q4 is '6'"):
        read_sus("q1,q2,q3,q4,q5,q6,q7,q8,q9,q10\n" + "3," * 9 + "3\n3,3,3,6,3,3,3,3,3,3\n", "f")
    with pytest.raises(QuestionnaireError, match="no column q10"):
        read_sus("q1,q2,q3,q4,q5,q6,q7,q8,q9\n", "f")


PLAN = """\
id: p
name: p
system: {name: s}
target: crm
targets:
  crm: {profile: sandbox, base_url: "http://127.0.0.1:9"}
cases:
  - id: SUS
    title: users rate it
    category: ux
    steps:
      - questionnaire: {file: answers.csv, at_least: AT_LEAST, min_respondents: 2}
"""
ANSWERS = "who,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10\nA,4,2,4,2,4,2,4,2,4,2\nB,5,1,5,1,5,1,5,1,5,1\n"


def _plan(tmp_path: Path, at_least: int, answers: str = ANSWERS) -> Path:
    (tmp_path / "answers.csv").write_text(answers, encoding="utf-8")
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("AT_LEAST", str(at_least)), encoding="utf-8")
    return plan


@pytest.mark.parametrize(("at_least", "outcome"), [(80, Outcome.PASSED),
                                                   (90, Outcome.FAILED)])
def test_a_sus_case_passes_or_fails_on_its_threshold(tmp_path: Path, at_least: int,
                                                     outcome: Outcome) -> None:
    loaded = load_plan(_plan(tmp_path, at_least))
    engine = Engine(loaded, None, tmp_path / "run", "gw0", RecordingReporter())
    try:
        result = engine.run_case(loaded.cases[0], {})
    finally:
        engine.close()
    assert result.outcome is outcome, result.message
    checks = {c.name: c for c in result.steps[0].checks}
    assert checks["SUS score"].actual == 87.5 and checks["SUS respondents"].actual == 2
    [table] = result.steps[0].attachments
    assert table.mime_type == "text/csv" and table.text and "who" in table.text
    if outcome is Outcome.FAILED:
        assert "the mean SUS score 87.5 is below 90" in result.message


def test_a_bad_answer_is_a_plan_problem_at_its_place(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 70, ANSWERS.replace("A,4,2", "A,4,7"))
    with pytest.raises(PlanError) as caught:
        prepare_run(plan)
    [message] = [issue.format() for issue in caught.value.issues]
    assert message.startswith(f"{plan}:12:") and "answers.csv:2: q2 is '7'" in message


def _ui_problems(**step: object) -> list[tuple[str, tuple[str | int, ...], str | None]]:
    context = StepCheckContext(profile=resolve_profile("sandbox"), base_dir=ROOT)
    return [(p.message, p.where, p.suggestion)
            for p in check_ui_step(UiStep.model_validate(step), context)]


def test_ux_actions_refuse_options_they_do_not_take() -> None:
    assert _ui_problems(ui="task_start", value="t",
                        values={"input": "keyboard", "viewport": "phone"}) == []
    assert _ui_problems(ui="task_end", values={"clicks": 3, "lcp_ms": 2500}) == []
    [(message, where, hint)] = _ui_problems(ui="task_end", values={"clikcs": 3})
    assert where == ("values", "clikcs") and hint == "did you mean 'clicks'?"
    assert "task_end does not take 'clikcs'" in message
    [(_, where, _)] = _ui_problems(ui="expect_feedback", values={"within": 1})
    assert where == ("values", "within")
    [(message, _, _)] = _ui_problems(ui="expect_field_error", target="lead_form.emial")
    assert "has no element 'emial'" in message


def test_task_checks_are_named_so_reports_find_them() -> None:
    name = task_check_name("add a lead (phone 390x844)", "no horizontal scroll on lead_form")
    assert split_task_check(name) == ("add a lead (phone 390x844)",
                                      "no horizontal scroll on lead_form")
    assert split_task_check("expect_text lead_detail.message") is None


TASK_PLAN = """\
id: p
name: p
system: {name: s}
target: crm
targets:
  crm: {profile: sandbox, base_url: "http://127.0.0.1:9"}
cases:
  - id: OPEN
    title: a task never ended
    category: ux
    steps:
      - ui: task_start
        value: add a lead
      - ui: open
        target: lead_form
  - id: STRAY
    title: an end without a start
    category: ux
    steps:
      - ui: task_end
"""


def test_a_task_must_be_ended_and_an_end_must_follow_a_start(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(TASK_PLAN, encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    messages = [issue.format().splitlines()[0] for issue in caught.value.issues]
    assert messages == [
        f"{plan}:12:13: this task is never ended: add a ui: task_end step (with its budgets) "
        "after the task's last step",
        f"{plan}:20:13: ui: task_end without a task: start one with ui: task_start before it",
    ]
