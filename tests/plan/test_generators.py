"""The generators' logic: which cases each makes from a given plan, with stable ids, right
boundaries and expected outcomes, positioned plan errors, and fast expansion."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crmqa.core.errors import PlanError
from crmqa.plan.generators import (
    Generator,
    SectionBase,
    register_generator,
    registered_generators,
)
from crmqa.plan.generators.lists import filter_combinations
from crmqa.plan.generators.registry import _GENERATORS
from crmqa.plan.generators.workflows import Workflow, shortest_path
from crmqa.plan.loader import LoadedPlan, load_plan
from crmqa.plan.models import OpStep, Plan
from crmqa.plan.schema import schema_for

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
id: gen-test
name: generated cases
system: {name: crm}
target: t
targets:
  t:
    profile: sandbox
    base_url: http://127.0.0.1:9
    destructive_ok: true
    identities:
      default: {default_username: admin, password_env: PW}
      admin: {default_username: admin, password_env: PW}
      sales: {default_username: sales, password_env: PW}
      sales2: {default_username: sales2, password_env: PW}
      viewer: {default_username: viewer, password_env: PW}
      anonymous: {}
requirements:
  lead:
    first_name: {required: true, max_length: 50, searchable: true, sortable: true}
    last_name: {required: true, max_length: 50, searchable: true}
    email: {required: true, format: email, max_length: 254, unique: true, searchable: true}
    phone: {format: phone}
    status: {choices: [new, contacted, qualified], filterable: true, sortable: true}
    source: {choices: [web, event], filterable: true}
  opportunity:
    name: {required: true, max_length: 120}
    amount: {format: number, minimum: 0, maximum: 1000}
"""


def write(tmp_path: Path, generate: str, base: str = BASE) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(base + generate, encoding="utf-8")
    return path


def load(tmp_path: Path, generate: str, base: str = BASE) -> LoadedPlan:
    return load_plan(write(tmp_path, generate, base))


def generated(loaded: LoadedPlan, generator: str | None = None) -> dict[str, Any]:
    return {c.case.id: c.case for c in loaded.cases
            if c.generator is not None and (generator is None or c.generator == generator)}


def problems(tmp_path: Path, generate: str) -> list[str]:
    with pytest.raises(PlanError) as error:
        load(tmp_path, generate)
    return [issue.format() for issue in error.value.issues]


def body(step: Any) -> list[tuple[str, str, Any]]:
    """(path, comparison, value) of every body check of a step."""
    out = []
    for entry in step.expect.body:
        comparison = next(iter(entry.model_fields_set - {"path", "ignore_case"}))
        out.append((entry.path, comparison, getattr(entry, comparison)))
    return out


# --------------------------------------------------------------------------- registry


def test_builtin_generators_register_like_plugins_and_appear_in_the_schema() -> None:
    keys = list(registered_generators())
    assert keys == ["fields", "read_back", "lists", "permissions", "workflows", "decisions",
                    "lockout", "csrf", "response_times"]
    schema = schema_for(Plan)["properties"]["generate"]
    assert set(keys) <= set(schema["properties"])
    assert schema["additionalProperties"] is False


@pytest.fixture
def extra_generator() -> Iterator[None]:
    class Section(SectionBase):
        count: int = 2

    def make(context: Any, section: Section) -> Iterator[dict[str, Any]]:
        for n in range(section.count):
            yield {"id": f"X-{n}", "title": "x", "steps": [{"op": "lead.list"}]}

    register_generator(Generator("extra", Section, make, "a third party's generator"))
    try:
        yield
    finally:
        _GENERATORS.pop("extra", None)
        register_generator(_GENERATORS.pop("fields"))  # rebuild the sections model cache


def test_a_third_party_generator_is_a_section_like_the_builtins(
        tmp_path: Path, extra_generator: None) -> None:
    loaded = load(tmp_path, "generate:\n  extra: {count: 3}\n")
    assert sorted(generated(loaded)) == ["X-0", "X-1", "X-2"]
    assert {c.generator for c in loaded.cases if c.generator} == {"extra"}


@pytest.fixture
def broken_generator() -> Iterator[None]:
    def make(context: Any, section: SectionBase) -> Iterator[dict[str, Any]]:
        raise ZeroDivisionError("a bug in a plug-in")

    register_generator(Generator("broken", SectionBase, make, "a generator with a bug"))
    try:
        yield
    finally:
        _GENERATORS.pop("broken", None)
        register_generator(_GENERATORS.pop("fields"))


def test_a_failing_generator_is_a_positioned_problem_not_a_traceback(
        tmp_path: Path, broken_generator: None) -> None:
    found = problems(tmp_path, "generate:\n  broken: {}\n")
    assert len(found) == 1
    assert "generator 'broken' failed: ZeroDivisionError: a bug in a plug-in" in found[0]
    assert found[0].startswith(str(tmp_path / "plan.yaml") + ":")


# --------------------------------------------------------------------------- plan errors


def test_a_misspelt_generator_or_setting_is_positioned_with_a_suggestion(
        tmp_path: Path) -> None:
    found = problems(tmp_path, "generate:\n  listz: {}\n  fields: {clases: [max]}\n")
    text = "\n".join(found)
    assert "plan.yaml:" in text and "listz" in text and "'lists'" in text
    assert "clases" in text and "'classes'" in text


def test_semantic_problems_point_into_the_section(tmp_path: Path) -> None:
    found = problems(tmp_path, """\
generate:
  permissions:
    roles: {sales: {identity: salse}}
    grants: {sales: {read: own}}
""")
    assert len(found) == 1
    assert "unknown identity 'salse'" in found[0] and "did you mean 'sales'" in found[0]
    line = int(found[0].split(":")[1])
    assert write(tmp_path, "").read_text().count("\n") < line  # inside generate:


def test_an_incomplete_decision_table_is_a_plan_error(tmp_path: Path) -> None:
    found = problems(tmp_path, """\
generate:
  decisions:
    tables:
      convert:
        entity: lead
        action: convert
        roles: {admin: admin}
        conditions: {status: [new, qualified]}
        rules:
          - {when: {status: qualified}, outcome: ok}
""")
    assert any("no rule decides role=admin, status=new" in text for text in found)


def test_an_unreachable_workflow_state_is_a_plan_error(tmp_path: Path) -> None:
    found = problems(tmp_path, """\
generate:
  workflows:
    workflows:
      st:
        entity: lead
        initial: new
        transitions: {new: [contacted], contacted: [], qualified: [new]}
""")
    assert any("'qualified' cannot be reached" in text for text in found)


def test_generated_ids_clashing_with_written_ones_are_reported(tmp_path: Path) -> None:
    plan = BASE + """\
cases:
  - id: GEN-FLOW-st-initial
    title: written
    steps: [{op: lead.list}]
generate:
  workflows:
    workflows:
      st: {entity: lead, initial: new, transitions: {new: []}}
"""
    with pytest.raises(PlanError) as error:
        load_plan(write(tmp_path, "", plan))
    assert "GEN-FLOW-st-initial" in str(error.value)


# --------------------------------------------------------------------------- stable


def _fingerprint(loaded: LoadedPlan) -> list[str]:
    return [c.case.model_dump_json(by_alias=True, exclude_unset=True) for c in loaded.cases]


FULL = (ROOT / "plans" / "sandbox.yaml")


def test_expansion_is_deterministic_within_and_across_processes() -> None:
    first, second = load_plan(FULL), load_plan(FULL)
    assert _fingerprint(first) == _fingerprint(second)
    code = ("import hashlib, sys; from crmqa.plan.loader import load_plan; "
            "print(hashlib.sha256(''.join(c.case.model_dump_json(by_alias=True, "
            "exclude_unset=True) for c in load_plan(sys.argv[1]).cases).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code, str(FULL)], capture_output=True,
                              text=True, check=True, env={"PYTHONHASHSEED": seed,
                                                          **_env()}).stdout
               for seed in ("1", "2")}
    assert len(digests) == 1


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_switching_a_generator_off(tmp_path: Path) -> None:
    on = generated(load(tmp_path, "generate:\n  fields: {}\n  lists: {}\n"))
    assert any(i.startswith("GEN-FIELD") for i in on) and any(i.startswith("GEN-LIST") for i in on)
    off = generated(load(tmp_path, "generate:\n  fields: false\n  lists: {enabled: false}\n"))
    assert off == {}
    skipped = generated(load(tmp_path, "generate:\n  fields: {skip: ['*-email-*']}\n"))
    assert skipped and not any("-email-" in i for i in skipped)


# --------------------------------------------------------------------------- fields


def test_boundaries_follow_the_rules(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, "generate:\n  fields: {}\n"), "fields")
    longest = cases["GEN-FIELD-lead-first_name-max"]
    assert longest.steps[0].with_["data"]["first_name"] == "x" * 50
    assert body(longest.steps[1]) == [("record.first_name", "equals", "x" * 50)]
    too_long = cases["GEN-FIELD-lead-first_name-over_max"]
    assert too_long.steps[0].with_["data"]["first_name"] == "z" * 51
    assert too_long.steps[0].expect.field_errors == ["first_name"]
    assert too_long.steps[1].op == "lead.update"  # refused on update too
    assert "first_name" not in cases["GEN-FIELD-lead-first_name-missing"].steps[0].with_["data"]
    assert cases["GEN-FIELD-lead-first_name-whitespace"].steps[0].with_["data"][
        "first_name"] == "   "
    # optional fields have no required classes; every text class fits the maximum
    assert "GEN-FIELD-lead-phone-missing" not in cases
    for case_id in ("cyrillic", "arabic_rtl", "emoji", "apostrophe", "double_quote"):
        value = cases[f"GEN-FIELD-lead-last_name-{case_id}"].steps[0].with_["data"]["last_name"]
        assert 0 < len(value) <= 50
    # numbers: the bounds, and just outside them
    assert cases["GEN-FIELD-opportunity-amount-maximum"].steps[0].with_["data"]["amount"] == 1000
    assert cases["GEN-FIELD-opportunity-amount-below_minimum"].steps[0].with_["data"][
        "amount"] == -0.01
    # choices: each accepted, something else refused; a unique e-mail: the duplicate case
    assert {"GEN-FIELD-lead-status-choice_qualified", "GEN-FIELD-lead-status-not_a_choice",
            "GEN-FIELD-lead-email-duplicate", "GEN-FIELD-lead-email-import"} <= set(cases)


def test_the_longest_email_has_exactly_the_maximum_length(tmp_path: Path) -> None:
    from crmqa.plan.templating import render

    cases = generated(load(tmp_path, "generate:\n  fields: {classes: [max, over_max]}\n"))
    context = {"unique": "gw0-abc123-1"}
    longest = render(cases["GEN-FIELD-lead-email-max"].steps[0].with_["data"]["email"], context)
    too_long = render(cases["GEN-FIELD-lead-email-over_max"].steps[0].with_["data"]["email"],
                      context)
    assert len(longest) == 254 and len(too_long) == 255
    local, domain = longest.split("@")
    assert len(local) <= 64 and all(0 < len(label) <= 63 for label in domain.split("."))


def test_workflow_fields_are_left_to_the_workflow(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, """\
generate:
  fields: {}
  workflows:
    workflows:
      st: {entity: lead, initial: new, transitions: {new: [contacted], contacted: []}}
"""), "fields")
    assert not any("-status-" in case_id for case_id in cases)


# --------------------------------------------------------------------------- read-back


def test_update_read_back_compares_every_other_field(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, "generate:\n  read_back: {}\n"), "read_back")
    case = cases["GEN-READ-lead-update-phone"]
    checks = body(case.steps[2])
    assert ("record.phone", "equals", case.steps[1].with_["data"]["phone"]) in checks
    others = {path for path, _, value in checks if "saved.before" in str(value)}
    assert others >= {"record.first_name", "record.email", "record.status", "record.source"}
    assert "record.phone" not in others


# --------------------------------------------------------------------------- lists


def test_pairwise_covers_every_pair_with_fewer_rows_than_all_combinations() -> None:
    domains = [["a", "b", "c"], ["x", "y", "z"], [1, 2, 3], [True, False]]
    rows = filter_combinations(domains)
    assert len(rows) < 3 * 3 * 3 * 2
    for (i, first), (j, second) in itertools.combinations(enumerate(domains), 2):
        seen = {(row[i], row[j]) for row in rows}
        assert seen == set(itertools.product(first, second)), (i, j)


def test_filter_cases_expect_exactly_the_matching_records(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, "generate:\n  lists: {}\n"), "lists")
    alone = cases["GEN-LIST-lead-filter-status"]
    assert [s.with_["data"]["status"] for s in alone.setup] == ["new", "contacted", "qualified"]
    for step, name in zip(alone.steps, ("r1", "r2", "r3"), strict=True):
        assert step.expect.count == 1 and step.expect.total == 1
        assert body(step) == [("sort(records[*].id)", "equals",
                               "{{ [saved." + name + "] | sort }}")]
    pairs = cases["GEN-LIST-lead-filter-pairwise"]
    records = [(s.with_["data"]["status"], s.with_["data"]["source"]) for s in pairs.setup]
    for step in pairs.steps:
        filters = step.with_.get("filters") or {}
        expected = [r for r in records
                    if all(dict(zip(("status", "source"), r, strict=True))[k] == v
                           for k, v in filters.items())]
        assert step.expect.total == len(expected)


def test_sort_cases_check_both_directions(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, "generate:\n  lists: {}\n"), "lists")
    text = cases["GEN-LIST-lead-sort-first_name"]
    up, down = text.steps
    assert up.with_["sort"] == "first_name" and down.with_["sort"] == "-first_name"
    values = [s.with_["data"]["first_name"] for s in text.setup]
    assert values != sorted(values)  # created out of order
    assert ("records[*].first_name", "equals", sorted(values)) in body(up)
    assert ("reverse(records[*].id)", "equals", "{{ saved.ascending }}") in body(down)
    choice = cases["GEN-LIST-lead-sort-status"]  # choices: only the reverse property
    assert [c[0] for c in body(choice.steps[1])] == ["reverse(records[*].id)"]


def test_pages_check_no_duplicates_and_the_union(tmp_path: Path) -> None:
    case = generated(load(tmp_path, "generate:\n  lists: {records: 5, page_size: 2}\n"),
                     "lists")["GEN-LIST-lead-pages"]
    counts = [s.expect.count for s in case.steps]
    assert counts == [2, 2, 1, 0, 5]
    assert all(s.expect.total == 5 for s in case.steps)
    assert len(body(case.steps[2])) == 4  # page 3 holds none of pages 1 and 2


# --------------------------------------------------------------------------- permissions

PERMISSIONS = """\
generate:
  permissions:
    roles:
      admin: {identity: admin, other: sales}
      sales: {identity: sales, other: sales2}
      viewer: {identity: viewer}
      anonymous: {identity: anonymous, other: sales}
    grants:
      admin: {read: all, create: true, update: all, delete: all, import: true, export: all}
      sales: {read: own, create: true, update: own, delete: own, import: true, export: own}
      viewer: {read: all, export: all}
      anonymous: {}
"""


def test_the_permission_matrix_expects_what_the_table_grants(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, PERMISSIONS), "permissions")
    assert cases["GEN-PERM-lead-sales-read-other"].steps[0].expect.outcome is not None
    refused = cases["GEN-PERM-lead-sales-update-other"].steps[0].expect.outcome
    assert [o.value for o in refused] == ["forbidden", "not_found"]
    assert cases["GEN-PERM-lead-sales-update-own"].steps[0].expect.outcome.value == "ok"
    other_owner = cases["GEN-PERM-lead-sales-delete-other"].setup[0]
    assert other_owner.as_ == "sales2"
    assert [o.value for o in cases["GEN-PERM-lead-anonymous-delete-other"].steps[0]
            .expect.outcome] == ["unauthorized", "forbidden"]
    assert cases["GEN-PERM-lead-viewer-create"].steps[0].as_ == "viewer"
    # a viewer owns nothing: no "own" cells; the viewer's "other" owner is the first creator
    assert "GEN-PERM-lead-viewer-read-own" not in cases
    assert cases["GEN-PERM-lead-viewer-read-other"].setup[0].as_ == "admin"
    # sales' export leaves out others' records; the UI cells exist except for anonymous
    export = cases["GEN-PERM-lead-sales-export"]
    assert body(export.steps[0])[0][1] == "not_contains"
    assert "GEN-PERM-lead-sales-ui-other" in cases
    assert not any(i.startswith("GEN-PERM-lead-anonymous-ui") for i in cases)
    assert all(c.category.value == "security" for c in cases.values())


# --------------------------------------------------------------------------- workflows


CASE_FLOW = Workflow(entity="case", initial="new", transitions={
    "new": ["in_progress"], "in_progress": ["resolved"],
    "resolved": ["closed", "in_progress"], "closed": []})


def test_shortest_path_reaches_each_state() -> None:
    assert shortest_path(CASE_FLOW, ["new"], "closed") == [
        ("new", "in_progress"), ("in_progress", "resolved"), ("resolved", "closed")]
    assert shortest_path(CASE_FLOW, ["new"], "new") == []


def test_workflow_cases_cover_allowed_and_refused_moves(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, """\
generate:
  workflows:
    workflows:
      lead_status:
        entity: lead
        initial: new
        creatable: [new, contacted]
        transitions: {new: [contacted], contacted: [new, qualified], qualified: []}
        via: {qualified: convert}
"""), "workflows")
    allowed = cases["GEN-FLOW-lead_status-new-contacted"]
    assert allowed.steps[0].expect.outcome.value == "ok"
    refused = cases["GEN-FLOW-lead_status-new-qualified"]  # via convert, not allowed from new
    assert refused.steps[0].op == "lead.convert"
    assert [o.value for o in refused.steps[0].expect.outcome] == ["rejected", "conflict"]
    assert body(refused.steps[1]) == [("record.status", "equals", "new")]
    final = cases["GEN-FLOW-lead_status-qualified-new"]  # from a final state, reached by convert
    # the shortest way: created in contacted (creatable), then converted
    assert [s.op for s in final.setup] == ["lead.create", "lead.convert"]
    assert final.setup[0].with_["data"]["status"] == "contacted"
    assert "GEN-FLOW-lead_status-contacted-qualified-by-update" in cases
    assert cases["GEN-FLOW-lead_status-create-qualified"].steps[0].expect.outcome.value == \
        "rejected"
    states = ("new", "contacted", "qualified")
    pairs = {f"GEN-FLOW-lead_status-{a}-{b}" for a in states for b in states if a != b}
    assert pairs <= set(cases)  # every ordered pair: allowed or refused


# --------------------------------------------------------------------------- decisions


def test_decision_table_gives_each_combination_the_first_matching_rule(
        tmp_path: Path) -> None:
    section = """\
generate:
  decisions:
    tables:
      convert:
        entity: lead
        action: convert
        roles: {admin: admin, sales: sales, viewer: viewer}
        owner_of_others: sales2
        creators: [admin, sales]
        conditions: {status: [new, qualified]}
        rules:
          - {when: {role: viewer}, outcome: forbidden}
          - {when: {role: sales, ownership: other}, outcome: [not_found, forbidden]}
          - {when: {status: qualified}, outcome: ok}
          - {outcome: conflict}
"""
    cases = generated(load(tmp_path, section), "decisions")
    assert len(cases) == 3 * 2 * 2 - 2  # viewer owns nothing
    outcome = {i: c.steps[0].expect.outcome for i, c in cases.items()}
    assert outcome["GEN-DT-convert-admin-other-qualified"].value == "ok"
    assert outcome["GEN-DT-convert-admin-own-new"].value == "conflict"
    assert [o.value for o in outcome["GEN-DT-convert-sales-other-qualified"]] == [
        "not_found", "forbidden"]
    assert outcome["GEN-DT-convert-viewer-other-qualified"].value == "forbidden"
    pairwise = generated(load(tmp_path, section.replace("creators", "coverage: pairwise\n"
                                                        "        creators")), "decisions")
    assert 0 < len(pairwise) < len(cases)


# --------------------------------------------------------------------------- budgets


def test_budgets_go_on_every_step_without_one_and_survive_templating(tmp_path: Path) -> None:
    plan = BASE + """\
cases:
  - id: W-1
    title: written
    steps:
      - {op: lead.search, with: {query: "{{ unique }}"}}
      - {op: lead.list, expect: {max_ms: 50}}
      - {request: {path: /x}}
generate:
  response_times: {default_ms: 2000, operations: {search: 700}, requests_ms: 300}
"""
    loaded = load_plan(write(tmp_path, "", plan))
    search, listing, request = loaded.case("W-1").case.steps
    assert (search.expect.max_ms, listing.expect.max_ms, request.expect.max_ms) == (700, 50, 300)
    # the engine re-validates a templated step from the fields set: the budget stays
    dumped = search.model_dump(by_alias=True, exclude_unset=True)
    assert OpStep.model_validate(dumped).expect.max_ms == 700
    assert problems(tmp_path, "generate:\n  response_times: {operations: {serch: 5}}\n")


# --------------------------------------------------------------------------- scale


def test_thousands_of_generated_cases_load_in_seconds(tmp_path: Path) -> None:
    entities = ["lead", "contact", "account", "opportunity", "case"]
    rules: dict[str, Any] = {}
    for entity in entities:
        rules[entity] = {f"text{n}": {"max_length": 60, "required": n == 0, "searchable": True,
                                      "sortable": True} for n in range(20)}
        rules[entity]["kind"] = {"choices": ["a", "b", "c"], "filterable": True}
        rules[entity]["other"] = {"choices": ["x", "y"], "filterable": True}
    base = yaml.safe_dump({**yaml.safe_load(BASE), "requirements": rules}, sort_keys=False)
    started = time.perf_counter()
    loaded = load(tmp_path, "generate:\n  fields: {}\n  read_back: {}\n  lists: {}\n", base)
    elapsed = time.perf_counter() - started
    assert len(generated(loaded)) >= 2000
    assert elapsed < 15, elapsed


# --------------------------------------------------------------------------- csrf


def test_csrf_checks_every_form_that_changes_records(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, "generate:\n  csrf: {kinds: [form, edit, delete]}\n"),
                      "csrf")
    assert sorted(cases) == sorted(f"GEN-CSRF-{entity}-{kind}" for entity in
                                   ("lead", "opportunity") for kind in ("form", "edit", "delete"))
    form = cases["GEN-CSRF-lead-form"]
    assert [s.ui for s in form.steps] == ["open", "fill", "expect_csrf_protected"]
    # a valid record, so that a refusal can only be for the forgery
    assert set(form.steps[1].values) == {"first_name", "last_name", "email"}
    # the whole screen: every form on it that posts, found in the page
    assert form.steps[-1].target == "lead_form" and not form.setup
    delete = cases["GEN-CSRF-opportunity-delete"]
    assert delete.setup[0].op == "opportunity.create"
    assert delete.steps[0].values == {"id": "{{ saved.record_id }}"}
    assert delete.steps[-1].target == "opportunity_delete"
    assert str(delete.category.value) == "security" and "csrf" in delete.tags


def test_csrf_covers_buttons_that_post_and_import_forms_with_a_file(tmp_path: Path) -> None:
    cases = generated(load(tmp_path, "generate:\n  csrf:\n"
                           "    records: {lead: {status: qualified}}\n"
                           "    import_files: {lead: leads.csv}\n"), "csrf")
    kinds = {case_id.rsplit("-", 1)[1] for case_id in cases if "-lead-" in case_id}
    assert kinds == {"form", "edit", "delete", "convert", "import", "detail", "list"}
    # the record the detail page shows can be converted: its convert button is there to check
    detail = cases["GEN-CSRF-lead-detail"]
    assert detail.setup[0].with_["data"]["status"] == "qualified"
    assert detail.steps[-1].target == "lead_detail"
    upload = cases["GEN-CSRF-lead-import"].steps[1]
    assert (upload.ui, upload.target, upload.value) == ("upload", "lead_import.file", "leads.csv")
    # no file for opportunities: a forgery without one could be refused for that alone
    assert "GEN-CSRF-opportunity-import" not in cases
    assert "GEN-CSRF-opportunity-list" in cases
