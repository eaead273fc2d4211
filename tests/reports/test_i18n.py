"""Reports in English, Chinese and Russian: the catalogue is complete, every report uses it,
case titles come from the suite's translations, and an unknown language is a usage error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from crmqa.cli.main import cli
from crmqa.core.errors import PlanError
from crmqa.core.languages import (
    LANGUAGES,
    TRANSLATED_LANGUAGES,
    UnknownLanguage,
    check_language,
    language_suggestion,
)
from crmqa.core.results import Outcome
from crmqa.gates import Decision, GateKind, Verdict, WithheldKind, evaluate
from crmqa.ledger import Lifecycle
from crmqa.plan.loader import load_plan
from crmqa.reports import render_verdict, write_run_outputs
from crmqa.reports.allure_quality_gate import quality_gate_rows
from crmqa.reports.allure_verdict import verdict_result
from crmqa.reports.catalogues import extract_messages, untranslated
from crmqa.reports.i18n import (
    DECISION_WORDS,
    STATE_WORDS,
    WITHHELD_WORDS,
    gate_texts,
    gettext_for,
    po_file,
    reasons,
    translations,
    warnings,
    withheld_reason,
)
from tests.reports.conftest import TODAY, Concluded, case

# --------------------------------------------------------------------------- the catalogue


def test_every_message_of_every_report_has_a_translation_in_zh_and_ru() -> None:
    """Extract the messages from the code and the templates, compare with each .po file."""
    used = extract_messages()
    assert len(used) > 200  # the summary, console, Allure verdict and six documents
    assert "Gates: actual vs required" in used and "Test completion report" in used
    for lang in TRANSLATED_LANGUAGES:
        assert untranslated(lang) == [], (
            f"{po_file(lang)}: run python -m crmqa.reports.catalogues update, then translate")
        _ = translations(lang).gettext
        for message in used:
            translated = _(message)
            assert translated != "" and "\n" not in translated.strip("\n"), (lang, message)
            # a placeholder lost in translation would raise when the page is rendered
            assert sorted(re.findall(r"%\(\w+\)s", message)) == sorted(
                re.findall(r"%\(\w+\)s", translated)), (lang, message)


def test_words_shown_from_data_are_all_marked_for_translation(concluded: Concluded) -> None:
    """Outcomes, lifecycle states, decisions and gate names reach the templates as data: each
    must be a marked message, or its translation would be missing without any test noticing.
    A verdict written before the gates worded their rows as messages has English names only:
    those are translated through GATE_NAMES, to the same words."""
    for outcome in Outcome:
        assert outcome.value in STATE_WORDS
    for state in Lifecycle:
        assert state.value in STATE_WORDS
    assert set(DECISION_WORDS) == {d.value for d in Decision}
    assert set(WITHHELD_WORDS) == set(WithheldKind)
    kinds = {row.kind for row in concluded.verdict.gate_results}
    assert kinds == set(GateKind)  # every family of rows is looked at below
    for lang in TRANSLATED_LANGUAGES:
        _ = gettext_for(lang)
        for row in concluded.verdict.gate_results:
            old = row.model_copy(update={"words": None})
            assert gate_texts(old, _).name == gate_texts(row, _).name != row.name, (lang, row)


# --------------------------------------------------------------------------- --lang


def test_a_language_crmqa_has_not_is_a_usage_error_with_a_suggestion() -> None:
    assert [check_language(lang) for lang in LANGUAGES] == ["en", "zh", "ru"]
    assert language_suggestion("zh-CN") == "zh" and language_suggestion("ru_RU") == "ru"
    assert language_suggestion("Russian") == "ru" and language_suggestion("中文") == "zh"
    assert language_suggestion("fr") is None
    with pytest.raises(UnknownLanguage) as raised:
        check_language("zh_Hans")
    assert raised.value.exit_code == 3 and "did you mean 'zh'" in str(raised.value)

    runner = CliRunner()
    result = runner.invoke(cli, ["run", "no-such-plan.yaml", "--lang", "zh-CN"])
    assert result.exit_code == 3
    assert "no reports in 'zh-CN': use one of en, zh, ru" in result.output
    assert "did you mean 'zh'" in result.output
    result = runner.invoke(cli, ["documents", "--lang", "de"])
    assert result.exit_code == 3 and "use one of en, zh, ru" in result.output


# --------------------------------------------------------------------------- the reports


def _translated(concluded: Concluded, lang: str) -> Concluded:
    info = concluded.run_info.model_copy(update={"lang": lang})
    results = [
        r.model_copy(update={"titles": {"zh": "创建潜在客户", "ru": "Создание лида"}})
        if r.case_id == "L-WAIVED" else r
        for r in concluded.results
    ]
    return Concluded(concluded.run_dir, info, results, concluded.verdict, concluded.defects,
                     concluded.plan)


def test_summary_allure_verdict_and_gates_page_in_chinese(concluded: Concluded) -> None:
    zh = _translated(concluded, "zh")
    write_run_outputs(zh.run_dir, zh.run_info, zh.results, zh.verdict, zh.defects, zh.plan)

    html = (zh.run_dir / "summary.html").read_text(encoding="utf-8")
    assert '<html lang="zh">' in html
    assert "拒绝验收 (REJECTED)" in html and "验收门限：实际与要求" in html
    assert "通过率: functional" in html  # the gate's subject (a category) as written
    # the gates' own sentences: a pass-rate detail, a severity row, a reason, a warning
    assert "通过 18，失败 2，中断 1；未计入：已豁免 1，阻塞 1" in html
    assert "不高于 normal" in html and "critical（1 个未关闭）" in html
    assert "1 个已豁免缺陷未计入" in html
    assert "通过率: functional：85.7% (18/21)（要求 ≥ 95%）" in html
    assert "1 个用例因前置条件失败而阻塞：不计入通过率" in html
    assert "not counted" not in html and "blocked by a failed prerequisite" not in html
    assert "创建潜在客户" in html  # the waived case, by the title its suite translated
    assert "Gates: actual vs required" not in html and "Failed cases" not in html
    md = (zh.run_dir / "summary.md").read_text(encoding="utf-8")
    assert "## 结论： **拒绝验收 (REJECTED)** (退出码 1)" in md
    assert "| 门限 | 要求 | 实际 | 结果 | 详情 |" in md
    assert "未关闭缺陷达到 4 个时适用；当前 2 个" in md and "applies from" not in md
    assert "<script>" not in html  # escaping holds in every language
    verdict_json = json.loads((zh.run_dir / "verdict.json").read_text(encoding="utf-8"))
    assert verdict_json["headline"] == "REJECTED"  # machines read English, always
    gates = (zh.run_dir / "gates.html").read_text(encoding="utf-8")
    assert "拒绝验收 (REJECTED)" in gates and "<th>门限</th>" in gates
    assert "通过 18，失败 2" in gates
    verdict_json = json.loads((zh.run_dir / "verdict.json").read_text(encoding="utf-8"))
    assert "passed 18, failed 2, broken 1" in verdict_json["gate_results"][1]["detail"]
    read_back = Verdict.model_validate(verdict_json)  # as `crmqa documents` reads it
    _ = gettext_for("zh")
    assert read_back == zh.verdict.model_copy(update={"evaluated_on": read_back.evaluated_on})
    assert reasons(read_back, _) == reasons(zh.verdict, _)
    assert [gate_texts(r, _) for r in read_back.gate_results] == [
        gate_texts(r, _) for r in zh.verdict.gate_results]


def test_allure_verdict_and_console_in_russian(concluded: Concluded) -> None:
    ru = _translated(concluded, "ru")
    result = verdict_result(ru.verdict, ru.run_info)
    assert result["name"] == "Решение о приёмке: ОТКЛОНЕНО (REJECTED)"
    steps = [step["name"] for step in result["steps"]]
    assert any(name.startswith("доля успешных: functional — ") for name in steps)
    assert any("(требуется " in name for name in steps)
    details = [step.get("statusDetails", {}).get("message", "") for step in result["steps"]]
    assert ("пройдено 18, не пройдено 2, сломано 1; не учтены: с отсрочкой 1, "
            "заблокировано 1") in details
    assert "открыто: critical 1, minor 1; дефектов с отсрочкой не учтено: 1" in details
    assert "ничего выше normal" in result["description"]
    assert "доля успешных: functional: 85.7% (18/21) (требуется ≥ 95%)" in (
        result["statusDetails"]["message"])
    assert "| Критерий | Требуется |" in result["description"]
    assert result["labels"][0] == {"name": "parentSuite", "value": "Acceptance verdict"}

    console = Console(record=True, width=160, color_system=None)
    render_verdict(console, ru.verdict, "ru")
    text = console.export_text()
    assert "ОТКЛОНЕНО (REJECTED)" in text and "код завершения 1" in text
    assert "Критерии приёмки: фактически и требуется" in text
    assert "ничего не оставлено" in text and "ВЫПОЛНЕНО" not in text
    assert "применяется от 4 открытых дефектов; открыто: 2" in text
    assert "заблокировано случаев из-за невыполненного предусловия: 1" in text
    assert "applies from" not in text and "case(s)" not in text

    gates = quality_gate_rows(ru.verdict, "ru")
    severity = next(row for row in gates if row["rule"].startswith("наивысшая"))
    assert severity["expected"] == "ничего выше normal"
    assert severity["actual"] == "critical (открыто: 1)"
    assert "дефектов с отсрочкой не учтено: 1" in severity["message"]


def test_a_verdict_recorded_without_words_shows_its_english_texts(
    concluded: Concluded,
) -> None:
    """verdict.json files written before the gates worded their texts as messages still
    render: names translated, the rest as recorded."""
    old = concluded.verdict.model_copy(update={
        "gate_results": [r.model_copy(update={"words": None})
                         for r in concluded.verdict.gate_results],
        "reason_words": [], "warning_words": []})
    _ = gettext_for("ru")
    assert reasons(old, _)[0].startswith("наивысшая серьёзность открытых дефектов: critical (1 "
                                         "open) (требуется nothing above normal)")
    assert warnings(old, _) == old.warnings
    row = gate_texts(old.gate_results[1], _)
    assert row.name == "доля успешных: functional" and row.detail.startswith("passed 18")


@pytest.mark.parametrize(("lang", "expected"), [
    ("zh", "运行在完成 9 个用例中的 5 个后被中断：报告仅涵盖已完成的用例"),
    ("ru", "прогон прерван после 5 из 9 случаев: отчёты охватывают только завершённые случаи"),
], ids=["zh", "ru"])
def test_a_suspension_and_a_withheld_verdict_are_worded_in_the_readers_language(
    concluded: Concluded, lang: str, expected: str,
) -> None:
    from crmqa.pytest_plugin.finish import interruption

    plan = concluded.plan
    top = plan.scales.severity[0].name
    failures = [case(f"F-{n}", "failed", severity=top) for n in range(6)]
    suspended = evaluate(failures, plan.gates, plan.scales, [], TODAY,
                         previously_suspended=True)
    _ = gettext_for(lang)
    shown = {row.name: gate_texts(row, _) for row in suspended.gate_results}
    words = {"zh": ("≤ 10 方可恢复", "测试已暂停；未关闭缺陷降至 10 个时恢复",
                    f"超过 50% 为 {top}"),
             "ru": ("≤ 10 для возобновления", "тестирование было приостановлено; оно "
                    "возобновится, когда открытых дефектов останется не более 10",
                    f"более 50% — {top}")}[lang]
    assert (shown["open defects"].required, shown["open defects"].detail) == words[:2]
    assert shown["share of top severity"].detail == words[2]
    assert shown["open defects"].required != suspended.gate_results[6].required

    stop = interruption([f"C-{n}" for n in range(9)], concluded.results[:5])
    withheld = evaluate(concluded.results[:5], plan.gates, plan.scales, [], TODAY,
                        withheld=stop)
    assert withheld_reason(stop, _) == expected == reasons(withheld, _)[0]
    assert withheld.reasons[0].startswith("the run was interrupted after 5 of 9 case(s)")


# --------------------------------------------------------------------------- suites


PLAN = """\
id: t
name: T
system: {name: Any CRM, version: "1"}
target: t
targets:
  t: {profile: sandbox, base_url: "http://127.0.0.1:9"}
cases:
  - id: A-1
    title: Create a lead
    translations:
      zh: {title: 创建潜在客户, steps: {create: 创建}}
      ru: {title: Создать лида}
    steps:
      - name: create
        request: {method: GET, path: /}
"""


def test_a_suite_translates_titles_and_step_names_with_english_fallback(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    case = load_plan(plan).cases[0].case
    assert case.title_in("zh") == "创建潜在客户" and case.title_in("en") == "Create a lead"
    assert case.step_name_in("create", "zh") == "创建"
    assert case.step_name_in("create", "ru") == "create"  # no Russian step name: English


def test_mistakes_in_translations_are_positioned_with_suggestions(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("steps: {create: 创建}", "steps: {creat: 创建}")
                    .replace("ru: {title:", "fr: {title:"), encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        load_plan(plan)
    messages = [issue.format() for issue in raised.value.issues]
    assert any(m.startswith(f"{plan}:12:11:") and "'fr'" in m and "zh, ru" in m
               for m in messages), messages
    assert any(m.startswith(f"{plan}:11:") and "names no step of this case: 'creat'" in m
               and "did you mean 'create'" in m for m in messages), messages


def test_every_kind_of_withheld_verdict_has_its_words() -> None:
    from crmqa.gates import WithheldKind
    from crmqa.reports.i18n import WITHHELD_WORDS

    assert set(WITHHELD_WORDS) == {kind.value for kind in WithheldKind}
