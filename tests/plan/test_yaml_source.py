"""Reading YAML with positions: libyaml and the pure parser agree, merge keys keep positions."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest
import yaml

from crmqa.plan import yaml_source
from crmqa.plan.yaml_source import LIBYAML, PositionMap, parse_yaml, read_yaml
from tests.plan.test_corpus import CORPUS, _entries, render_issues

SAMPLE = """\
id: x
count: 42
ratio: 0.5
hex: 0x1F
flag: true
other: yes
country: NO
nothing: null
empty:
date: 2026-12-31
equals: =
quoted: "123"
merge_text: "<<"
items: [1, two, {three: 3}]
nested:
  list:
    - a: 1
      b: [x, y]
"""


def _parse(text: str) -> yaml_source.YamlDocument:
    return parse_yaml(textwrap.dedent(text), "doc.yaml")


@pytest.fixture(params=["libyaml", "pure"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "libyaml" and not LIBYAML:
        pytest.skip("PyYAML without libyaml")
    monkeypatch.setattr(yaml_source, "_USE_LIBYAML", request.param == "libyaml")
    return str(request.param)


def test_libyaml_is_used_here() -> None:
    assert LIBYAML, "PyYAML here is built with libyaml: the fast parser must be in use"
    assert type(yaml_source._parser("a: 1")).__name__ == "CParser"


def test_resolver_choices_and_data(backend: str) -> None:
    document = parse_yaml(SAMPLE, "doc.yaml")
    assert document.issues == []
    data = document.data
    assert data["count"] == 42 and data["ratio"] == 0.5 and data["hex"] == 31
    assert data["flag"] is True
    assert data["other"] == "yes" and data["country"] == "NO"  # YAML 1.1 booleans stay text
    assert data["nothing"] is None and data["empty"] is None
    assert data["date"] == "2026-12-31"  # no timestamp resolution
    assert data["equals"] == "=" and data["quoted"] == "123" and data["merge_text"] == "<<"
    assert data["items"] == [1, "two", {"three": 3}]
    expected = yaml.safe_load(SAMPLE.replace("equals: =", "equals: x"))
    for key in ("id", "count", "ratio", "hex", "flag", "items", "nested"):
        assert data[key] == expected[key]


def test_both_parsers_give_the_same_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [("nested", "list", 0, "b", 1), ("items", 2, "three"), ("empty",), ("date",)]
    found = {}
    for fast in (True, False):
        monkeypatch.setattr(yaml_source, "_USE_LIBYAML", fast)
        positions = parse_yaml(SAMPLE, "doc.yaml").positions
        found[fast] = [(positions.value(p), positions.key(p)) for p in paths]
    assert found[True] == found[False]
    value, key = found[True][0]
    assert (value.line, value.column, key.line) == (18, 14, 18)


def test_the_corpus_reads_the_same_with_the_pure_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fallback without libyaml words and positions every corpus problem identically."""
    monkeypatch.chdir(CORPUS)
    monkeypatch.setattr(yaml_source, "_USE_LIBYAML", False)
    differing = [
        name
        for name in _entries()
        if render_issues(name) != (CORPUS / f"{name}.expected").read_text(encoding="utf-8")
    ]
    assert differing == []


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("a: [1, 2}\n", (1, 9), "the list opened with '[' on line 1 is not closed"),
        ('a: "x\\qy"\n', (1, 6), "unknown escape"),  # the pure parser: column 7, the q
        ("a:\n\t- b\n", (2, 1), "a tab character"),
        ("a: 1\nb: @x\n", (2, 4), "'@' cannot start a value"),
        ("a:\n  b: 1\n c: 2\n", (3, 2), "bad indentation"),
        ("a: b: c\n", (1, 5), "a ':' where YAML expected none"),
        ("a: 1\n---\nb: 2\n", (2, 1), "more than one YAML document"),
        ("a: *nowhere\n", (1, 4), "an alias (*name) with no matching anchor"),
        ("a: &x [1, *x]\n", (1, 11), "an alias refers to itself"),
        ("a: 1\nb: é\x01\n", (2, 5), "U+0001 is not allowed"),
    ],
)
def test_syntax_problems_are_positioned(
    backend: str, text: str, where: tuple[int, int], words: str
) -> None:
    document = parse_yaml(text, "doc.yaml")
    assert document.data is None or document.issues
    (issue,) = document.issues
    assert issue.position is not None
    if backend == "pure" and "escape" in words:
        where = (where[0], where[1] + 1)
    assert (issue.position.line, issue.position.column) == where, issue.format()
    assert words in issue.message


def test_not_utf8_is_positioned(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: x\nname: caf\xe9\n".encode("latin-1"))
    (issue,) = read_yaml(path).issues
    assert "is not UTF-8 text" in issue.message
    assert issue.position is not None and (issue.position.line, issue.position.column) == (2, 10)


def test_positions_below_the_first_levels_are_found_on_demand() -> None:
    """Deep positions are recorded on the first deep lookup, and agree with a full record."""
    text = "cases:\n" + "".join(
        f"  - id: C{n}\n    steps:\n      - op: lead.get\n        with: {{id: {n}}}\n"
        for n in range(50)
    )
    positions = parse_yaml(text, "doc.yaml").positions
    case = positions.value(("cases", 7))
    assert case is not None and (case.line, case.column) == (30, 5)
    assert positions._tree is not None and positions._walk(("cases", 7, "id")) is None
    deep = positions.value(("cases", 7, "steps", 0, "with", "id"))
    assert deep is not None and (deep.line, deep.column) == (33, 20)
    key = positions.key(("cases", 7, "steps", 0, "with", "id"))
    assert key is not None and (key.line, key.column) == (33, 16)
    missing = positions.value(("cases", 7, "steps", 0, "expect", "status"))
    assert missing == positions.value(("cases", 7, "steps", 0))


def test_empty_position_map_falls_back_to_the_file_start() -> None:
    issue = PositionMap("x.yaml", []).issue("problem", ("a", 1))
    assert issue.position is not None and (issue.position.line, issue.position.column) == (1, 1)


# --------------------------------------------------------------------------- merge keys

MERGES = """\
defaults: &defaults
  severity: critical
  module: leads
  steps:
    - op: lead.list
other: &other
  priority: low
  module: other
case:
  <<: [*defaults, *other]
  id: C1
  module: own
"""


def test_merge_keys_keep_the_positions_of_what_was_written(backend: str) -> None:
    document = parse_yaml(MERGES, "doc.yaml")
    assert document.issues == []
    case = document.data["case"]
    assert case == {
        "id": "C1",
        "module": "own",
        "severity": "critical",
        "steps": [{"op": "lead.list"}],
        "priority": "low",
    }
    positions = document.positions

    def at(path: tuple[object, ...], *, key: bool = False) -> tuple[int, int]:
        found = positions.key(path) if key else positions.value(path)  # type: ignore[arg-type]
        assert found is not None
        return found.line, found.column

    # an explicitly written key keeps its own position, though the anchor has it too
    assert at(("case", "module")) == (12, 11) and at(("case", "module"), key=True) == (12, 3)
    # a merged-in key points where it is written inside its anchor
    assert at(("case", "severity")) == (2, 13) and at(("case", "severity"), key=True) == (2, 3)
    assert at(("case", "steps", 0, "op")) == (5, 11)
    assert at(("case", "priority"), key=True) == (7, 3)  # from the second source
    # the merging mapping keeps its own position
    assert at(("case",)) == (10, 3) and at(("case",), key=True) == (9, 1)


def test_first_merge_source_wins(backend: str) -> None:
    text = "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n"
    document = parse_yaml(text, "doc.yaml")
    assert document.data["c"] == {"x": 1, "y": 2}
    x = document.positions.value(("c", "x"))
    assert x is not None and (x.line, x.column) == (1, 11)


def test_merging_a_non_mapping_is_an_issue(backend: str) -> None:
    (issue,) = parse_yaml("a: &a [1]\nb:\n  <<: *a\n", "doc.yaml").issues
    assert "'<<' must merge a mapping" in issue.message
    assert issue.position is not None and issue.position.line == 1


def test_merge_positions_deep_in_a_plan(tmp_path: Path) -> None:
    """An error in a merged-in key is reported where the anchor writes it."""
    from crmqa.core.errors import PlanError
    from crmqa.plan.loader import load_plan

    plan = tmp_path / "plan.yaml"
    plan.write_text(
        textwrap.dedent(
            """\
            id: p
            name: P
            system: {name: CRM}
            target: t
            targets:
              t: {profile: sandbox, base_url: "http://127.0.0.1:1"}
            cases:
              - &base
                id: A
                title: first
                severity: hgh
                steps: [{op: lead.list}]
              - <<: *base
                id: B
                title: second
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    lines = sorted(
        (issue.position.line, issue.position.column)
        for issue in caught.value.issues
        if issue.position and "unknown severity" in issue.message
    )
    # both cases point at the anchor's `severity: hgh`: one issue, reported once
    assert lines == [(11, 15)]


def _random_data(rng: random.Random, depth: int = 0) -> object:
    kind = rng.random()
    if depth > 4 or kind < 0.4:
        return rng.choice(
            [rng.randint(-10**6, 10**6), rng.random(), "text", "title", "{{ saved.x }}", None,
             True, "op", "t", "", "null-ish", "1.5e3x"]
        )
    if kind < 0.7:
        return [_random_data(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"{rng.choice('tfnoxyz')}k{n}": _random_data(rng, depth + 1) for n in range(4)}


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@pytest.mark.parametrize("flow", [False, True])
def test_data_and_positions_match_pyyaml_on_generated_documents(
    monkeypatch: pytest.MonkeyPatch, flow: bool
) -> None:
    """Data equals PyYAML's; positions agree between both parsers and lazy or full record."""
    rng = random.Random(11)
    data = {"cases": [_random_data(rng) for _ in range(60)], "other": _random_data(rng)}
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, width=70)
    document = parse_yaml(text, "doc.yaml")
    assert document.issues == [] and document.data == yaml.safe_load(text)
    paths = _paths(document.data)
    lazy = [(document.positions.value(p), document.positions.key(p)) for p in paths]
    full, _ = yaml_source._parse(text, "doc.yaml", yaml_source.DEFAULT_LIMITS, 1 << 30)
    assert lazy == [(full.positions.value(p), full.positions.key(p)) for p in paths]
    monkeypatch.setattr(yaml_source, "_USE_LIBYAML", False)
    pure = parse_yaml(text, "doc.yaml")
    assert pure.data == document.data
    assert lazy == [(pure.positions.value(p), pure.positions.key(p)) for p in paths]
