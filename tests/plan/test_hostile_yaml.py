"""Hostile and runaway YAML: every document is generated here, and each must end in a few
clean, positioned issues, quickly and in bounded memory, never in a traceback or a crash."""

from __future__ import annotations

import random
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from crmqa.core.errors import PlanIssue
from crmqa.plan import documents
from crmqa.plan.loader import load_plan, validate_paths
from crmqa.plan.yaml_source import YamlLimits, parse_yaml, read_yaml

PLAN_HEAD = """\
id: p
name: P
system: {name: CRM}
target: t
targets:
  t: {profile: sandbox, base_url: "http://127.0.0.1:1"}
"""


def _validate(tmp_path: Path, content: str | bytes, name: str = "doc.yaml") -> list[PlanIssue]:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    issues = validate_paths([path])
    for issue in issues:
        assert issue.position is not None, issue.message
        text = issue.format()
        assert "Traceback" not in text and "object at 0x" not in text and "Error(" not in text
        assert len(text) < 2_000, "an issue must stay readable, whatever the input"
    return issues


def _billion_laughs(levels: int = 9) -> str:
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, levels + 1):
        items = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{items}]")
    return PLAN_HEAD + "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- aliases


def test_alias_bomb_is_refused_within_a_second_and_100_mb(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_billion_laughs(), encoding="utf-8")
    tracemalloc.start()
    start = time.process_time()
    issues = validate_paths([path])
    seconds = time.process_time() - start
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    assert seconds < 1.0 and peak_mb < 100, (seconds, peak_mb)
    (issue,) = issues
    assert "aliases expand this file" in issue.message and "alias bomb" in issue.message
    assert issue.position is not None and issue.position.line > 6


def test_merge_bomb_is_refused(tmp_path: Path) -> None:
    """Merging a wide anchor again and again adds values just as aliases do."""
    wide = ", ".join(f"k{n}: {n}" for n in range(2_000))
    text = f"base: &base {{{wide}}}\nitems:\n" + "  - {<<: *base}\n" * 2_000
    start = time.process_time()
    (issue,) = _validate(tmp_path, text)
    assert time.process_time() - start < 2.0
    assert "aliases expand this file" in issue.message


def test_aliases_within_the_allowance_load(tmp_path: Path) -> None:
    document = parse_yaml("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n", "x.yaml")
    assert document.issues == [] and document.data["b"] == [[1, 2, 3]] * 3


def test_recursive_alias_is_an_issue(tmp_path: Path) -> None:
    (issue,) = _validate(tmp_path, PLAN_HEAD + "loop: &loop {again: *loop}\n")
    assert "refers to itself" in issue.message


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "{a: " * 100_000,
        "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "- " * 100_000 + "x\n",
        "".join(" " * level + "a:\n" for level in range(150)),
    ],
    ids=["open-brackets", "flow-mappings", "closed-brackets", "block-lists", "block-mappings"],
)
def test_deep_nesting_is_one_clean_issue(tmp_path: Path, text: str) -> None:
    start = time.process_time()
    (issue,) = _validate(tmp_path, text)
    assert time.process_time() - start < 5.0
    assert "nested deeper than 100 levels" in issue.message


def test_nesting_just_within_the_bound_reads() -> None:
    document = parse_yaml("a: " + "[" * 99 + "1" + "]" * 99 + "\n", "x.yaml")
    assert document.issues == []
    deeper = parse_yaml("a: " + "[" * 100 + "1" + "]" * 100 + "\n", "x.yaml")
    assert "nested deeper" in deeper.issues[0].message


def test_deep_but_allowed_values_survive_every_later_walker(tmp_path: Path) -> None:
    """90 levels inside a case: pydantic, the template walkers and rendering cope."""
    from crmqa.plan.templating import make_faker, render, template_context

    depth = 90
    body = "{{ fake.unique_email() }}"
    for _ in range(depth):
        body = {"a": body}  # type: ignore[assignment]
    import yaml

    case = {
        "id": "DEEP",
        "title": "deep",
        "steps": [{"op": "lead.create", "with": {"data": body}}],
    }
    text = PLAN_HEAD + yaml.safe_dump({"cases": [case]}, width=10_000)
    (tmp_path / "plan.yaml").write_text(text, encoding="utf-8")
    loaded = load_plan(tmp_path / "plan.yaml")
    step = loaded.cases[0].case.steps[0]
    context = template_context(fake=make_faker("en_US", 1, "gw0"), vars={}, saved={})
    rendered = render(step.with_, context)  # type: ignore[union-attr]
    for _ in range(depth + 1):
        rendered = next(iter(rendered.values()))
    assert "@" in rendered


def test_template_nested_too_deeply_is_an_issue(tmp_path: Path) -> None:
    template = "{{ " + "(" * 300 + "1" + ")" * 300 + " }}"
    text = PLAN_HEAD + textwrap.dedent(
        f"""\
        cases:
          - id: T
            title: t
            steps:
              - op: lead.get
                with: {{id: "{template}"}}
        """
    )
    (issue,) = _validate(tmp_path, text)
    assert "template nested too deeply" in issue.message
    assert issue.position is not None and issue.position.line == 12


# --------------------------------------------------------------------------- size


def test_a_file_over_64_mib_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(65 * 1024 * 1024)  # sparse: no disk, no time
    start = time.process_time()
    (issue,) = validate_paths([path])
    assert time.process_time() - start < 2.0
    assert "65.0 MiB" in issue.message and "at most 64.0 MiB" in issue.message
    assert "split its cases into several suite files" in issue.message
    assert "include" in issue.message


def test_values_and_items_are_bounded() -> None:
    limits = YamlLimits(max_values=1_000, max_items=100)
    many = parse_yaml("a:\n" + "  - [1, 2, 3]\n" * 400, "x.yaml", limits=limits)
    assert "more than 1,000 values" in many.issues[0].message
    wide = parse_yaml("a:\n  b: [" + ", ".join(["1"] * 150) + "]\n", "x.yaml", limits=limits)
    assert "more than 100 items" in wide.issues[0].message
    # the collections right under the top level (a suite's cases) are not bounded by count
    cases = parse_yaml("cases:\n" + "  - x\n" * 150, "x.yaml", limits=limits)
    assert cases.issues == [] and len(cases.data["cases"]) == 150


def test_a_mapping_with_very_many_keys_is_one_issue(tmp_path: Path) -> None:
    keys = "".join(f"    k{n}: 1\n" for n in range(150_000))
    text = PLAN_HEAD + "cases:\n  - id: A\n    title: a\n    steps: [{op: lead.list}]\n" + keys
    start = time.process_time()
    (issue,) = _validate(tmp_path, text)
    assert time.process_time() - start < 10.0
    assert "more than 100,000 items in one YAML list or mapping" in issue.message


def test_very_long_line_gives_a_short_readable_issue(tmp_path: Path) -> None:
    text = "a: {b: " + "x" * 5_000_000 + ", c: [1}\n"
    (issue,) = _validate(tmp_path, text)
    assert issue.position is not None and issue.position.column > 5_000_000
    shown = issue.format().splitlines()
    assert len(shown[1]) < 120 and shown[2].rstrip().endswith("^")
    caret = shown[2].index("^")
    assert shown[1][caret] == "}"


# --------------------------------------------------------------------------- junk


def test_binary_junk_is_an_issue(tmp_path: Path) -> None:
    junk = random.Random(7).randbytes(50_000)
    (issue,) = _validate(tmp_path, b"id: x\n" + junk)
    assert "is not UTF-8 text" in issue.message
    assert issue.position is not None and issue.position.line >= 2


def test_control_characters_are_positioned(tmp_path: Path) -> None:
    (issue,) = _validate(tmp_path, "id: x\nname: bad\x00name\n")
    assert "U+0000 is not allowed" in issue.message
    assert issue.position is not None and (issue.position.line, issue.position.column) == (2, 10)


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object:os.system {}",
        '!!python/object/apply:os.system ["echo hi"]',
        "!!python/name:os.system ''",
        "!!binary aGVsbG8=",
        "!!timestamp 2020-01-01",
        "!!set {a: null}",
        "!custom thing",
    ],
)
def test_foreign_tags_are_refused(tmp_path: Path, value: str) -> None:
    issues = _validate(tmp_path, PLAN_HEAD + f"data: {value}\n")
    assert issues and all("is not accepted" in issue.message for issue in issues)
    assert issues[0].position is not None and issues[0].position.line == 7


def test_a_number_too_long_to_convert_is_an_issue(tmp_path: Path) -> None:
    start = time.process_time()
    (long_int,) = _validate(tmp_path, "a: 1" + "0" * 5_000 + "\n")
    (sexagesimal,) = _validate(tmp_path, "a: 1" + ":30" * 100_000 + "\n")
    assert time.process_time() - start < 2.0
    assert "a number 5,001 characters long" in long_int.message
    assert "characters long" in sexagesimal.message


def test_a_key_too_long_is_an_issue(tmp_path: Path) -> None:
    (issue,) = _validate(tmp_path, "? " + "k" * 5_000 + "\n: 1\n")
    assert "a key 5,000 characters long" in issue.message
    (implicit,) = _validate(tmp_path, "k" * 5_000 + ": 1\n")  # YAML's own limit: 1024
    assert "a key longer than 1024 characters" in implicit.message


def test_problems_are_listed_up_to_a_bound(tmp_path: Path) -> None:
    text = "a: 1\n" * 1_000
    issues = _validate(tmp_path, text)
    assert len(issues) == 101
    assert "more than 100 problems in this file" in issues[-1].message


# --------------------------------------------------------------------------- validation


def test_a_flood_of_invalid_values_stops_at_a_budget(tmp_path: Path) -> None:
    steps = ", ".join(["0"] * 90_000)
    text = PLAN_HEAD + f"cases:\n  - id: A\n    title: a\n    steps: [{steps}]\n"
    start = time.process_time()
    issues = _validate(tmp_path, text)
    assert time.process_time() - start < 10.0
    assert len(issues) == 101 and "more than 100 problems" in issues[-1].message


def test_a_long_list_of_junk_where_cases_belong_stops_at_a_budget(tmp_path: Path) -> None:
    text = PLAN_HEAD + "cases: [" + ", ".join(["0"] * 300_000) + "]\n"
    start = time.process_time()
    issues = _validate(tmp_path, text)
    assert time.process_time() - start < 10.0
    assert len(issues) == 101 and "a mapping" in issues[0].message


def test_a_suite_of_many_broken_cases_stops_at_a_budget(tmp_path: Path) -> None:
    cases = "".join(f"  - {{id: C{n}, steps: [{{op: lead.list}}]}}\n" for n in range(60_000))
    start = time.process_time()
    issues = _validate(tmp_path, "suite: {id: s, name: S}\ncases:\n" + cases)
    assert time.process_time() - start < 15.0
    assert 100 <= len(issues) <= 102 and "more than 100 problems" in issues[-1].message
    assert "missing the required key 'title'" in issues[0].message


def test_validation_in_parts_reports_what_validation_in_one_call_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [
        "  - {id: A, title: a, steps: [{op: lead.list}]}\n",
        "  - {id: B, titel: b, steps: [{op: lead.lst}]}\n",
        "  - {id: C, title: c, category: manul, instructions: x}\n",
        "  - {id: D, title: d, steps: [{request: {path: /x, method: FETCH}}]}\n",
        "  - 42\n",
    ]
    text = "suite: {id: s, name: S, category: secure}\ncases:\n" + "".join(cases)
    whole = _validate(tmp_path, text)
    monkeypatch.setattr(documents, "WHOLE_DOCUMENT_VALUES", 1)
    parts = _validate(tmp_path, text)
    assert [issue.format() for issue in parts] == [issue.format() for issue in whole]
    assert len(whole) == 6


def test_large_valid_suites_validate_in_parts_to_the_same_model(tmp_path: Path) -> None:
    case = "  - {{id: C{n}, title: c, tags: [a], steps: [{{op: lead.get, with: {{id: {n}}}}}]}}\n"
    text = "suite: {id: s, name: S}\ncases:\n" + "".join(case.format(n=n) for n in range(12_000))
    path = tmp_path / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    document = read_yaml(path)
    from crmqa.plan.models import Suite

    model, issues = documents.validate_model(Suite, document.data, document.positions)
    assert issues == [] and model is not None
    assert model == Suite.model_validate(document.data)


def test_no_recursion_limit_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading never recurses: 100 levels read even with a tiny recursion limit."""
    text = "a: " + "[" * 99 + "]" * 99 + "\n"
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(100)
        document = parse_yaml(text, "x.yaml")
    finally:
        sys.setrecursionlimit(limit)
    assert document.issues == []
