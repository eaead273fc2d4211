"""Expectations: every check evaluated, with messages a QA engineer reads at a glance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crmqa.checks import CheckError, SaveError, evaluate, extract_saved, find_path
from crmqa.drivers.base import StepOutput
from crmqa.plan.models import BodyCheck, Expect


def _expect(**kwargs: Any) -> Expect:
    return Expect.model_validate(kwargs)


def _op_output(**data: Any) -> StepOutput:
    base = {"outcome": "ok", "status": 200, "record": None, "records": None, "total": None,
            "field_errors": {}}
    base.update(data)
    return StepOutput(data=base, outcome=base["outcome"], status=base["status"],
                      headers={"Content-Type": "application/json"}, elapsed_ms=40.0,
                      field_errors=base["field_errors"])


def _failed(results: list[Any]) -> list[str]:
    return [r.message for r in results if not r.ok]


def test_body_equals_message_names_path_expected_and_actual():
    output = _op_output(record={"email": "A@b.c"})
    results = evaluate(_expect(body=[{"path": "record.email", "equals": "a@b.c"}]), output)
    assert _failed(results) == ["body record.email: expected 'a@b.c', got 'A@b.c'"]
    assert results[0].expected == "a@b.c" and results[0].actual == "A@b.c"
    ignore = evaluate(_expect(body=[{"path": "record.email", "equals": "a@b.c",
                                     "ignore_case": True}]), output)
    assert _failed(ignore) == []


def test_all_checks_are_evaluated_even_after_a_failure():
    output = _op_output(outcome="rejected", status=422, records=[{"id": 1}], total=3,
                        field_errors={"email": ["bad"]})
    results = evaluate(_expect(outcome="ok", status=201, count=2, total=3,
                               field_errors=["email", "phone"], max_ms=10), output)
    assert [r.name for r in results] == ["outcome", "status", "field_errors", "count", "total",
                                         "response time"]
    assert _failed(results) == [
        "outcome: expected 'ok', got 'rejected' (email: bad)",
        "status: expected 201, got 422",
        "field_errors: expected errors on email, phone; missing phone (reported: email: bad)",
        "count: expected 2, got 1",
        "response time: expected <= 10 ms, got 40 ms",
    ]


def test_outcome_list_and_status_list():
    output = _op_output(outcome="not_found", status=404)
    assert _failed(evaluate(_expect(outcome=["forbidden", "not_found"], status=[403, 404]),
                            output)) == []
    assert _failed(evaluate(_expect(outcome=["ok", "conflict"]), output)) == [
        "outcome: expected 'ok' or 'conflict', got 'not_found'"]


def test_record_subset_one_result_per_field():
    output = _op_output(record={"id": 3, "first_name": "Ann", "status": "new"})
    results = evaluate(_expect(record={"first_name": "Ann", "status": "qualified",
                                       "phone": "1"}), output)
    assert _failed(results) == [
        "record.status: expected 'qualified', got 'new'",
        "record.phone: expected '1', the record has no 'phone'",
    ]


@pytest.mark.parametrize(("check", "ok"), [
    ({"path": "records[*].email", "contains": "b@x.org"}, True),
    ({"path": "records[*].email", "not_contains": "b@x.org"}, False),
    ({"path": "records", "contains": {"email": "a@x.org"}}, True),
    ({"path": "records", "length": 2}, True),
    ({"path": "records[0].email", "matches": "^a@"}, True),
    ({"path": "records[0].age", "gte": 30}, True),
    ({"path": "records[0].age", "lte": 29}, False),
    ({"path": "records[0].age", "type": "integer"}, True),
    ({"path": "records[0].missing", "exists": False}, True),
    ({"path": "records[0].email", "exists": True}, True),
    ({"path": "$.records[?(@.age > 30)].email", "equals": "b@x.org"}, True),
    ({"path": "$.records[*].email", "equals": ["a@x.org", "b@x.org"]}, True),
    ({"path": "total", "equals": None}, True),
])
def test_body_comparisons(check, ok):
    output = _op_output(records=[{"email": "a@x.org", "age": 30}, {"email": "b@x.org", "age": 41}])
    results = evaluate(_expect(body=[check]), output)
    assert results[0].ok is ok, results[0].message


def test_missing_path_says_found_nothing():
    results = evaluate(_expect(body=[{"path": "record.email", "contains": "@"}]), _op_output())
    assert _failed(results) == ["body record.email: expected to contain '@', "
                                "found nothing at that path"]


def test_bad_path_is_refused_by_the_plan_model_and_a_check_error_once_rendered():
    with pytest.raises(ValidationError, match=r"not a JMESPath expression"):
        _expect(body=[{"path": "records[", "exists": True}])
    with pytest.raises(ValidationError, match=r"not a JSONPath expression"):
        _expect(body=[{"path": "$.records[", "exists": True}])
    # a templated path is judged once rendered, at run time: a test defect, not a failure
    rendered = Expect.model_construct(body=[BodyCheck.model_construct(
        path="records[", exists=True, ignore_case=False)])
    with pytest.raises(CheckError, match=r"not a JMESPath expression"):
        evaluate(rendered, _op_output())


def test_headers_by_regex_case_insensitive_name():
    output = _op_output()
    results = evaluate(_expect(headers={"content-type": "json", "X-Missing": "."}), output)
    assert _failed(results) == ["header X-Missing: expected to match /./, header missing"]


def test_schema_inline_and_from_file(tmp_path: Path):
    schema = {"type": "object", "required": ["record"],
              "properties": {"record": {"type": "object", "required": ["email"]}}}
    output = _op_output(record={"id": 1})
    inline = evaluate(_expect(schema=schema), output)
    assert _failed(inline) == [
        "schema: body does not match inline schema at record: 'email' is a required property"]
    (tmp_path / "lead.json").write_text(json.dumps(schema))
    from_file = evaluate(_expect(schema="lead.json"), _op_output(record={"email": "x"}), tmp_path)
    assert _failed(from_file) == []
    with pytest.raises(CheckError, match=r"not found"):
        evaluate(_expect(schema="nope.json"), output, tmp_path)


def test_save_extracts_and_says_when_nothing_is_found():
    data = {"record": {"id": 9}, "records": [{"id": 1}]}
    assert extract_saved({"lead_id": "record.id", "first": "$.records[0].id"}, data) == {
        "lead_id": 9, "first": 1}
    with pytest.raises(SaveError, match=r"save lead_id: path 'record.uid' found nothing"):
        extract_saved({"lead_id": "record.uid"}, data)


def test_find_path_distinguishes_null_from_absent_for_jsonpath():
    assert find_path("$.a", {"a": None}) == (True, None)
    assert find_path("$.b", {"a": None}) == (False, None)


# Every comparison, passed and failed: `actual` is what was found at the path, `expected`
# what was asked for (the value itself for `equals`, else in words), the message a sentence.
_RECORD = {"name": "Ann", "tags": ["vip", "new"], "age": 30, "email": "Ann@X.org"}


@pytest.mark.parametrize(("check", "ok", "expected", "actual", "message"), [
    ({"path": "record.name", "equals": "Ann"}, True, "Ann", "Ann", ""),
    ({"path": "record.name", "equals": "Bob"}, False, "Bob", "Ann",
     "body record.name: expected 'Bob', got 'Ann'"),
    ({"path": "record.name", "not_equals": "Bob"}, True, "not 'Bob'", "Ann", ""),
    ({"path": "record.name", "not_equals": "Ann"}, False, "not 'Ann'", "Ann",
     "body record.name: expected anything but 'Ann', got 'Ann'"),
    ({"path": "record.email", "not_equals": "ann@x.org", "ignore_case": True}, False,
     "not 'ann@x.org' (ignoring case)", "Ann@X.org",
     "body record.email: expected anything but 'ann@x.org', got 'Ann@X.org' (ignoring case)"),
    ({"path": "record.tags", "contains": "vip"}, True, "contains 'vip'", ["vip", "new"], ""),
    ({"path": "record.tags", "contains": "old"}, False, "contains 'old'", ["vip", "new"],
     'body record.tags: expected to contain \'old\', got ["vip", "new"]'),
    ({"path": "record.tags", "not_contains": "old"}, True, "does not contain 'old'",
     ["vip", "new"], ""),
    ({"path": "record.tags", "not_contains": "vip"}, False, "does not contain 'vip'",
     ["vip", "new"], 'body record.tags: expected not to contain \'vip\', got ["vip", "new"]'),
    ({"path": "record.email", "matches": "@x\\.org$", "ignore_case": True}, True,
     "matches /@x\\.org$/ (ignoring case)", "Ann@X.org", ""),
    ({"path": "record.email", "matches": "^bob"}, False, "matches /^bob/", "Ann@X.org",
     "body record.email: expected to match /^bob/, got 'Ann@X.org'"),
    ({"path": "record.name", "exists": True}, True, "exists", "Ann", ""),
    ({"path": "record.phone", "exists": True}, False, "exists", None,
     "body record.phone: expected it to exist, found nothing"),
    ({"path": "record.phone", "exists": False}, True, "does not exist", None, ""),
    ({"path": "record.name", "exists": False}, False, "does not exist", "Ann",
     "body record.name: expected nothing there, got 'Ann'"),
    ({"path": "record.tags", "length": 2}, True, "length 2", ["vip", "new"], ""),
    ({"path": "record.tags", "length": 3}, False, "length 3", ["vip", "new"],
     'body record.tags: expected length 3, got 2 (["vip", "new"])'),
    ({"path": "record.age", "gte": 30}, True, ">= 30", 30, ""),
    ({"path": "record.age", "gte": 31}, False, ">= 31", 30,
     "body record.age: expected >= 31, got 30"),
    ({"path": "record.age", "lte": 30}, True, "<= 30", 30, ""),
    ({"path": "record.age", "lte": 29}, False, "<= 29", 30,
     "body record.age: expected <= 29, got 30"),
    ({"path": "record.age", "type": "integer"}, True, "an integer", 30, ""),
    ({"path": "record.name", "type": "array"}, False, "an array", "Ann",
     "body record.name: expected an array, got 'Ann'"),
    ({"path": "record.nothing", "contains": "x"}, False, "contains 'x'", None,
     "body record.nothing: expected to contain 'x', found nothing at that path"),
])
def test_each_body_comparison_records_what_was_seen_and_what_was_asked(
        check, ok, expected, actual, message):
    [result] = evaluate(_expect(body=[check]), _op_output(record=_RECORD))
    assert (result.ok, result.expected, result.actual, result.message) == (
        ok, expected, actual, message)


def test_other_checks_record_what_was_seen_passed_or_failed():
    output = _op_output(outcome="rejected", status=422, records=[{"id": 1}], total=3,
                        field_errors={"email": ["not a valid email address"]})
    output.headers["X-Frame-Options"] = "DENY"
    passed = evaluate(_expect(outcome="rejected", status=[400, 422], count=1, total=3,
                              field_errors=["email"], max_ms=100,
                              headers={"x-frame-options": "^DENY$"},
                              schema={"type": "object"}), output)
    assert all(r.ok for r in passed), [r.message for r in passed]
    seen = {r.name: (r.expected, r.actual) for r in passed}
    assert seen == {
        "outcome": ("rejected", "rejected"),
        "status": ([400, 422], 422),
        "field_errors": (["email"], {"email": ["not a valid email address"]}),
        "count": (1, 1),
        "total": (3, 3),
        "schema": ("matches the inline schema", "matches"),
        "header x-frame-options": ("matches /^DENY$/", "DENY"),
        "response time": ("<= 100 ms", 40.0),
    }
    failed = evaluate(_expect(field_errors=[], headers={"X-Frame-Options": "^SAMEORIGIN$"},
                              schema={"type": "array"}), output)
    assert [(r.ok, r.expected, r.actual) for r in failed] == [
        (False, [], {"email": ["not a valid email address"]}),
        (False, "matches the inline schema", "at the top: {'outcome': 'rejected', 'status': "
         "422, 'record': None, 'records': [{'id': 1}], 'total': 3, 'field_errors': {'email': "
         "['not a valid email address']}} is not of type 'array'"),
        (False, "matches /^SAMEORIGIN$/", "DENY"),
    ]
    assert failed[2].message == ("header X-Frame-Options: expected to match /^SAMEORIGIN$/, "
                                 "got 'DENY'")
