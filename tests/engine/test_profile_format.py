"""Profile keys for CRMs that answer differently from the sandbox, against tiny real servers.

Per-operation `record_path`, `read_back` and `id_path`; `outcome_rules`; flat, all-or-nothing
import answers with their own row numbering; export column labels and value labels; a fixed
convert body; values with no equivalent; the offset style's `default_size`; and, in the
engine, identities and screen elements a target lacks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crmqa.core.results import Outcome
from crmqa.engine.engine import Engine
from crmqa.plan.loader import load_plan
from crmqa.plan.models import OpStep, RequestStep
from crmqa.profiles.models import NoEquivalent, Profile

# A CRM shaped like BottleCRM: writes answer without the record, 403 for no credentials.
PROFILE: dict[str, Any] = {
    "name": "quiet",
    "auth": {"scheme": "bearer"},
    "outcome_rules": [
        {"status": 403, "anonymous": True, "outcome": "unauthorized"},
        {"status": 403, "body_path": "detail", "matches": "^Who are you", "outcome":
         "unauthorized"},
    ],
    "entities": {"lead": {
        "collection": "/leads/", "item": "/leads/{id}/", "record_path": "lead_obj",
        "fields": {"company": "company_name"},
        "values": {"status": {"new": "assigned", "qualified": None}},
        "operations": {
            "create": {"success": [200], "id_path": "id", "read_back": True},
            "get": None, "update": {"read_back": True}, "delete": None,
            "list": None, "search": None,
        },
        "list": {"items_path": "leads", "total_path": "count",
                 "pagination": {"style": "offset", "size_param": "limit",
                                "default_size": 10}},
        "import": {"path": "/leads/import/", "imported_path": "created", "ids_path": "ids",
                   "rejected_path": "errors", "rejected_shape": "flat", "row_base": 1,
                   "all_or_nothing": True, "columns": ["first_name", "email"]},
        "export": {"path": "/leads/export/",
                   "columns": {"first_name": "First name", "email": "Email",
                               "status": "Status", "company": "Company"},
                   "values": {"status": {"new": "Assigned"}}},
        "convert": {"path": "/leads/{id}/", "method": "PATCH", "body": {"status": "converted"}},
    }},
}


class QuietCrm:
    """In-memory leads behind the tiny server, answering like BottleCRM."""

    def __init__(self) -> None:
        self.leads: dict[str, dict[str, Any]] = {}

    def __call__(self, request: Any) -> tuple[int, dict[str, str], Any]:
        if "Authorization" not in request.headers:
            return 403, {}, {"detail": "Organization context is required."}
        if request.headers["Authorization"] == "Bearer stranger":
            return 403, {}, {"detail": "Who are you?"}
        parts = [p for p in request.path.split("/") if p]
        if parts == ["leads"] and request.method == "POST":
            lead_id = f"L{len(self.leads) + 1}"
            self.leads[lead_id] = {"id": lead_id, **request.json()}
            return 200, {}, {"error": False, "message": "Lead Created", "id": lead_id}
        if parts == ["leads"] and request.method == "GET":
            offset = int(request.q("offset") or 0)
            leads = list(self.leads.values())
            return 200, {}, {"leads": leads[offset:offset + 10], "count": len(leads)}
        if parts == ["leads", "import"]:
            return 400, {}, {"error": True, "created": 0, "errors": [
                {"row": 2, "field": "email", "message": "Enter a valid email address."},
                {"row": 2, "field": "first_name", "message": "Required."},
                {"row": 3, "field": "email", "message": "Duplicate."},
            ]}
        if parts == ["leads", "export"]:
            body = "\ufeffFirst name,Email,Status,Company,Rating\r\nZoë,z@e.com,Assigned,'=X,\r\n"
            return 200, {"Content-Type": "text/csv; charset=utf-8"}, body.encode()
        lead = self.leads.get(parts[1]) if len(parts) == 2 else None
        if lead is None:
            return 404, {}, {"detail": "No Lead matches the given query."}
        if request.method == "PATCH":
            lead.update(request.json())
            return 200, {}, {"error": False, "message": "Lead updated", "account_id": "A1"}
        return 200, {}, {"lead_obj": lead, "comments": []}


def _op(op: str, **args: Any) -> OpStep:
    return OpStep.model_validate({"op": op, "with": args})


@pytest.fixture
def quiet(tiny_server, driver_factory) -> tuple[Any, Any, QuietCrm]:
    crm = QuietCrm()
    server = tiny_server(crm)
    driver = driver_factory(PROFILE, server.base_url, identities={
        "admin": {"token_env": "T"}, "stranger": {"token_env": "S"}},
        env={"T": "sekret", "S": "stranger"})
    return driver, server, crm


def test_create_and_update_read_the_record_back(quiet, step_ctx):
    driver, server, _ = quiet
    created = driver.run(_op("lead.create", data={"first_name": "Ada", "company": "Engines",
                                                  "status": "new"}), step_ctx)
    assert created.outcome == "ok"
    assert created.data["record"] == {"id": "L1", "first_name": "Ada", "company": "Engines",
                                      "status": "new"}
    assert created.data["write_answer"]["message"] == "Lead Created"
    assert step_ctx.created == [("lead", "L1", "admin")]
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/leads/"),
                                                              ("GET", "/leads/L1/")]
    updated = driver.run(_op("lead.update", id="L1", data={"company": "Navy"}), step_ctx)
    assert updated.data["record"]["company"] == "Navy"


def test_read_back_that_fails_leaves_no_record_but_keeps_tracking(quiet, step_ctx):
    driver, _, crm = quiet
    real_get = crm.__call__

    def forgetful(request: Any) -> tuple[int, dict[str, str], Any]:
        if request.method == "GET":
            return 404, {}, {"detail": "gone"}
        return real_get(request)

    crm.__class__ = type("Forgetful", (QuietCrm,), {"__call__": lambda self, r: forgetful(r)})
    created = driver.run(_op("lead.create", data={"first_name": "Ada"}), step_ctx)
    assert created.outcome == "ok" and created.data["record"] is None
    assert "answered not_found" in created.data["read_back"]
    assert step_ctx.created == [("lead", "L1", "admin")]


def test_outcome_rules_anonymous_and_body(quiet, step_ctx):
    driver, _, _ = quiet
    assert driver.run(_op("lead.list"), step_ctx).outcome == "ok"
    anonymous = OpStep.model_validate({"op": "lead.list", "as": "anonymous"})
    assert driver.run(anonymous, step_ctx).outcome == "unauthorized"
    stranger = OpStep.model_validate({"op": "lead.list", "as": "stranger"})
    assert driver.run(stranger, step_ctx).outcome == "unauthorized"
    raw = RequestStep.model_validate({"request": {"path": "/leads/", "auth": False}})
    assert driver.run(raw, step_ctx).outcome == "unauthorized"
    profile = Profile.model_validate(PROFILE)
    assert profile.outcome_for(403, body={"detail": "nope"}).value == "forbidden"


def test_outcome_rule_with_a_bad_regex_is_a_profile_error():
    with pytest.raises(ValidationError, match="not a regular expression"):
        Profile.model_validate({"name": "x", "outcome_rules": [
            {"status": 403, "matches": "(", "outcome": "unauthorized"}]})


def test_all_or_nothing_flat_import_in_the_canonical_shape(quiet, step_ctx):
    driver, _, _ = quiet
    output = driver.run(_op("lead.import", rows=[{"first_name": "A", "email": "a@b.c"}]),
                        step_ctx)
    assert output.status == 400 and output.outcome == "ok"
    assert (output.data["imported"], output.data["ids"]) == (0, [])
    assert output.data["rejected"] == [
        {"row": 3, "errors": {"email": ["Enter a valid email address."],
                              "first_name": ["Required."]}},
        {"row": 4, "errors": {"email": ["Duplicate."]}},
    ]
    assert step_ctx.created == []


def test_export_labels_map_back_and_the_bom_goes(quiet, step_ctx):
    driver, _, _ = quiet
    output = driver.run(_op("lead.export"), step_ctx)
    assert output.data["rows"] == [{"first_name": "Zoë", "email": "z@e.com", "status": "new",
                                    "company": "'=X", "Rating": ""}]


def test_convert_sends_the_fixed_body(quiet, step_ctx):
    driver, server, crm = quiet
    crm.leads["L9"] = {"id": "L9"}
    output = driver.run(_op("lead.convert", id="L9"), step_ctx)
    assert output.outcome == "ok" and output.data["record"]["account_id"] == "A1"
    assert server.requests[-1].method == "PATCH"
    assert server.requests[-1].json() == {"status": "converted"}
    assert ("account", "A1", "admin") in step_ctx.created


def test_a_value_with_no_equivalent_raises_no_equivalent(quiet, step_ctx):
    driver, server, _ = quiet
    with pytest.raises(NoEquivalent, match="status 'qualified' has no equivalent"):
        driver.run(_op("lead.create", data={"status": "qualified"}), step_ctx)
    with pytest.raises(NoEquivalent, match="filter status 'qualified'"):
        driver.run(_op("lead.search", query="x", filters={"status": "qualified"}), step_ctx)
    assert server.requests == []


def test_offset_page_two_without_page_size_uses_default_size(quiet, step_ctx):
    driver, server, _ = quiet
    driver.run(_op("lead.search", query="a", page=2), step_ctx)
    assert server.requests[-1].q("offset") == "10"


PLAN = """
id: p
name: P
system: {name: S}
target: t
targets:
  t:
    profile: %(profile)s
    base_url: http://127.0.0.1:9
    destructive_ok: true
    identities: {admin: {token_env: T}}
include: [suite.yaml]
"""

SUITE = """
suite: {id: s, name: S, module: leads, category: functional}
cases:
  - id: ROLE-1
    title: as a role the target lacks
    steps:
      - {op: lead.get, as: viewer, with: {id: 1}, expect: {outcome: forbidden}}
  - id: UI-1
    title: an element the screen lacks
    steps:
      - {ui: fill, target: lead_list.search, value: x}
  - id: UI-2
    title: elements named by a fill
    steps:
      - {ui: fill, target: lead_form, values: {first_name: A, nickname: B}}
  - id: UI-3
    title: an element the screen has
    steps:
      - {ui: click, target: lead_list.new}
"""

SCREENS_PROFILE = """
name: screens
entities: {lead: {collection: /leads, operations: [get]}}
screens:
  lead_list: {url: /leads, elements: {new: 'role=link[name="New"]'}}
  lead_form: {url: /leads/new, elements: {first_name: label=First}}
"""


def test_engine_missing_identity_and_elements_are_not_applicable(tmp_path: Path):
    (tmp_path / "screens.yaml").write_text(SCREENS_PROFILE, encoding="utf-8")
    (tmp_path / "suite.yaml").write_text(SUITE, encoding="utf-8")
    (tmp_path / "plan.yaml").write_text(PLAN % {"profile": "screens.yaml"}, encoding="utf-8")
    loaded = load_plan(tmp_path / "plan.yaml")  # `as: viewer` in a suite loads fine
    engine = Engine(loaded, None, Path(tempfile.mkdtemp()), "w")
    # UI-3 would really run (a browser): only its needs are checked.
    results = {c.case.id: engine.run_case(c) for c in loaded.cases[:3]}
    assert results["ROLE-1"].outcome is Outcome.NOT_APPLICABLE
    assert results["ROLE-1"].message == "target 't' has no identity 'viewer'"
    assert results["UI-1"].outcome is Outcome.NOT_APPLICABLE
    assert "screen:lead_list.search" in results["UI-1"].message
    assert "screen:lead_form.nickname" in results["UI-2"].message
    assert "first_name" not in results["UI-2"].message
    assert engine.missing_capabilities(loaded.cases[3].case) == []
