"""The profile keys that let crmqa reach CRMs the plain format could not, against tiny servers.

Each test drives the API driver (or the engine) over real HTTP on 127.0.0.1: headers and
parameters every request needs, body defaults, fields with no equivalent, composite fields,
related records, multi-call operations, ids from a header, list and search templates (a
JSON filter in base64, SOQL, OData, a search body with `after` cursors), totals from a
header, sort templates, field errors found in message text, and target-level reasons.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.results import Outcome
from crmqa.engine.engine import Engine
from crmqa.plan.loader import load_plan
from crmqa.plan.models import OpStep
from crmqa.profiles.models import NoEquivalent

Reply = tuple[int, dict[str, str], Any]


def _op(op: str, **args: Any) -> OpStep:
    return OpStep.model_validate({"op": op, "with": args})


def _step(spec: dict[str, Any]) -> OpStep:
    return OpStep.model_validate(spec)


class Store:
    """A tiny REST CRM: collections of records, with hooks for a test's own rules."""

    def __init__(self, *, require: dict[str, str] | None = None) -> None:
        self.collections: dict[str, dict[str, dict[str, Any]]] = {}
        self.require = require or {}
        self.counter = 0
        self.refuse: dict[str, Any] = {}  # collection -> callable(body) -> error reply | None

    def add(self, collection: str, record: dict[str, Any]) -> dict[str, Any]:
        self.counter += 1
        record = {"id": f"{collection[0].upper()}{self.counter}", **record}
        self.collections.setdefault(collection, {})[record["id"]] = record
        return record

    def __call__(self, request: Any) -> Reply:
        for header, value in self.require.items():
            if request.headers.get(header) != value:
                return 400, {}, {"message": f"missing {header}"}
        parts = [p for p in request.path.split("/") if p]
        collection = self.collections.setdefault(parts[0], {})
        if len(parts) == 1 and request.method == "POST":
            body = request.json()
            refuse = self.refuse.get(parts[0])
            if refuse is not None and (reply := refuse(body)) is not None:
                return reply
            return 201, {}, self.add(parts[0], body)
        if len(parts) == 1:
            items = list(collection.values())
            return 200, {}, {"items": items, "total": len(items)}
        record = collection.get(parts[1])
        if record is None:
            return 404, {}, {"message": "not found"}
        if request.method == "PATCH":
            record.update(request.json())
            return 200, {}, record
        if request.method == "DELETE":
            del collection[parts[1]]
            return 204, {}, b""
        return 200, {}, record


# --------------------------------------------------------------------------- headers, defaults


def test_headers_params_and_body_defaults_reach_every_request(tiny_server, driver_factory,
                                                              step_ctx):
    store = Store(require={"X-Tenant": "acme"})
    server = tiny_server(store)
    profile = {
        "name": "tenanted",
        "headers": {"X-Tenant": "{{ env.TENANT }}", "X-Request-Id": "{{ uuid() }}",
                    "X-Who": "{{ identity.name }}@{{ target.name }}"},
        "params": {"api-version": "7.0"},
        "entities": {"lead": {
            "collection": "/leads",
            "operations": {
                "create": {"headers": {"Prefer": "return=representation"},
                           "body_defaults": {"subject": "Lead {{ data.last_name }}",
                                             "org": {"id": 1, "kind": "main"}}},
                "get": None, "list": None},
        }},
    }
    driver = driver_factory(profile, server.base_url, identities={"admin": {}},
                            env={"TENANT": "acme"})
    created = driver.run(_op("lead.create", data={"last_name": "Ng", "org": {"kind": "x"}}),
                         step_ctx)
    assert created.outcome == "ok"
    post = server.requests[0]
    assert post.headers["X-Tenant"] == "acme" and post.headers["Prefer"] == (
        "return=representation")
    assert post.headers["X-Who"] == "admin@t"
    assert re.fullmatch(r"[0-9a-f-]{36}", post.headers["X-Request-Id"])
    assert post.q("api-version") == "7.0"
    # Defaults go under what the step gives, mappings key by key.
    assert post.json() == {"subject": "Lead Ng", "org": {"id": 1, "kind": "x"},
                           "last_name": "Ng"}
    driver.run(_op("lead.list"), step_ctx)
    listed = server.requests[-1]
    assert listed.q("api-version") == "7.0" and "Prefer" not in listed.headers
    # A value from the environment is hidden in the evidence.
    evidence = step_ctx.kept[0][1]()
    assert "acme" not in evidence and "X-Tenant: [redacted]" in evidence


def test_an_unset_environment_variable_is_an_environment_problem(tiny_server, driver_factory,
                                                                 step_ctx):
    server = tiny_server(Store())
    profile = {"name": "t", "headers": {"X-Tenant": "{{ env.TENANT }}"},
               "entities": {"lead": {"collection": "/leads", "operations": ["list"]}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    with pytest.raises(EnvironmentProblem, match="environment variable TENANT is not set"):
        driver.run(_op("lead.list"), step_ctx)
    assert server.requests == []


# --------------------------------------------------------------------------- null fields


NULL_PROFILE: dict[str, Any] = {
    "name": "sparse",
    "entities": {"lead": {
        "collection": "/leads",
        "fields": {"first_name": None, "company": "org"},
        "operations": ["create", "get", "update", "list", "search"],
        "list": {"filters": {"status": "state", "source": None}},
    }},
}


def test_a_field_with_no_equivalent_is_never_sent_nor_read(tiny_server, driver_factory,
                                                          step_ctx):
    store = Store()
    server = tiny_server(store)
    driver = driver_factory(NULL_PROFILE, server.base_url, identities={"admin": {}})
    created = driver.run(_op("lead.create", data={"first_name": "Ann", "last_name": "Lee",
                                                  "company": "Acme"}), step_ctx)
    assert server.requests[0].json() == {"last_name": "Lee", "org": "Acme"}
    assert created.data["not_sent"] == ["first_name"]
    # The product's own `first_name` (meaning something else there) is not read as canonical.
    store.collections["leads"][created.data["record"]["id"]]["first_name"] = "internal"
    got = driver.run(_op("lead.get", id=created.data["record"]["id"]), step_ctx)
    assert "first_name" not in got.data["record"] and got.data["record"]["company"] == "Acme"


@pytest.mark.parametrize(("step", "reason"), [
    ({"op": "lead.search", "with": {"query": "x", "filters": {"first_name": "A"}}},
     "fields.first_name: null"),
    ({"op": "lead.list", "with": {"sort": "-first_name"}}, "fields.first_name: null"),
    ({"op": "lead.search", "with": {"filters": {"source": "web"}}},
     "list.filters.source: null"),
    ({"op": "lead.get", "with": {"id": 1}, "expect": {"record": {"first_name": "A"}}},
     "fields.first_name: null"),
    ({"op": "lead.get", "with": {"id": 1}, "save": {"name": "record.first_name"}},
     "fields.first_name: null"),
])
def test_steps_needing_a_field_with_no_equivalent_are_not_applicable(
        tiny_server, driver_factory, step_ctx, step, reason):
    server = tiny_server(Store())
    driver = driver_factory(NULL_PROFILE, server.base_url, identities={"admin": {}})
    with pytest.raises(NoEquivalent, match=re.escape(reason)):
        driver.run(_step(step), step_ctx)
    assert server.requests == []


def test_unmapped_fields_can_mean_no_equivalent(tiny_server, driver_factory, step_ctx):
    server = tiny_server(Store())
    profile = {"name": "strict", "entities": {"lead": {
        "collection": "/leads", "unmapped_fields": "no_equivalent",
        "fields": {"last_name": "surname", "email": "email"},
        "operations": ["create"]}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    created = driver.run(_op("lead.create", data={"last_name": "Lee", "notes": "n",
                                                  "email": "a@b.c"}), step_ctx)
    assert server.requests[0].json() == {"surname": "Lee", "email": "a@b.c"}
    assert created.data["record"] == {"id": "L1", "last_name": "Lee", "email": "a@b.c"}
    assert not driver.profile.supports("field:lead.notes")


# --------------------------------------------------------------------------- composite


COMPOSITE_PROFILE: dict[str, Any] = {
    "name": "fullname",
    "entities": {"contact": {
        "collection": "/contacts",
        "composite": {
            "person.name": {
                "from": ["first_name", "last_name"],
                "write": "{{ first_name }} {{ last_name }}",
                "split": r"^(?P<first_name>\S*) ?(?P<last_name>.*)$",
            },
            "amount_cents": {"from": ["notes"], "write": "{{ (notes | float * 100) | int }}",
                             "read": {"notes": "{{ '%.2f' | format(value / 100) }}"}},
        },
        "operations": ["create", "get", "update", "list"],
    }},
}


def test_composite_and_derived_fields_both_ways(tiny_server, driver_factory, step_ctx):
    server = tiny_server(Store())
    driver = driver_factory(COMPOSITE_PROFILE, server.base_url, identities={"admin": {}})
    created = driver.run(_op("contact.create", data={"first_name": "Ada", "last_name":
                                                     "King Lovelace", "notes": "12.50"}),
                         step_ctx)
    assert server.requests[0].json() == {"person": {"name": "Ada King Lovelace"},
                                         "amount_cents": 1250}
    record = created.data["record"]
    assert (record["first_name"], record["last_name"], record["notes"]) == (
        "Ada", "King Lovelace", "12.50")
    assert "person" not in record and "amount_cents" not in record
    # An update naming one part reads the record first to rebuild the whole field.
    updated = driver.run(_op("contact.update", id=record["id"], data={"last_name": "Byron"}),
                         step_ctx)
    assert [(r.method, r.path) for r in server.requests[1:]] == [
        ("GET", f"/contacts/{record['id']}"), ("PATCH", f"/contacts/{record['id']}")]
    assert server.requests[-1].json() == {"person": {"name": "Ada Byron"}}
    assert updated.data["record"]["last_name"] == "Byron"
    listed = driver.run(_op("contact.list"), step_ctx)
    assert listed.data["records"][0]["first_name"] == "Ada"
    with pytest.raises(NoEquivalent, match=re.escape("part of composite field 'person.name'")):
        driver.run(_op("contact.list", sort="last_name"), step_ctx)


# --------------------------------------------------------------------------- related records


RELATED_PROFILE: dict[str, Any] = {
    "name": "party",
    "entities": {"lead": {
        "collection": "/leads",
        "fields": {"company": "org"},
        "related": {"person": {
            "collection": "/people", "reference": "person_id",
            "fields": {"first_name": "given", "last_name": "family", "email": "mail"},
        }},
        "operations": ["create", "get", "update", "delete", "list"],
    }},
}


def _party(tiny_server: Any) -> tuple[Store, Any]:
    store = Store()

    def people(body: dict[str, Any]) -> Reply | None:
        if "@" not in str(body.get("mail", "")):
            return 400, {}, {"errors": {"mail": ["not an e-mail address"]}}
        return None

    def leads(body: dict[str, Any]) -> Reply | None:
        if len(str(body.get("org", ""))) > 10:
            return 400, {}, {"errors": {"org": ["too long"]}}
        return None

    store.refuse = {"people": people, "leads": leads}
    return store, tiny_server(store)


def test_one_lead_over_two_records(tiny_server, driver_factory, step_ctx):
    store, server = _party(tiny_server)
    driver = driver_factory(RELATED_PROFILE, server.base_url, identities={"admin": {}})
    created = driver.run(_op("lead.create", data={"first_name": "Ann", "last_name": "Lee",
                                                  "email": "ann@x.org", "company": "Acme"}),
                         step_ctx)
    assert created.outcome == "ok"
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/people"), ("POST", "/leads"), ("GET", "/leads/L2"), ("GET", "/people/P1")]
    assert server.requests[1].json() == {"org": "Acme", "person_id": "P1"}
    record = created.data["record"]
    assert {k: record[k] for k in ("first_name", "email", "company")} == {
        "first_name": "Ann", "email": "ann@x.org", "company": "Acme"}
    assert step_ctx.created == [("lead", "L2", "admin")]

    driver.run(_op("lead.update", id="L2", data={"email": "ann@y.org", "company": "Beta"}),
               step_ctx)
    assert store.collections["people"]["P1"]["mail"] == "ann@y.org"
    assert store.collections["leads"]["L2"]["org"] == "Beta"

    deleted = driver.run(_op("lead.delete", id="L2"), step_ctx)
    assert deleted.outcome == "ok"
    assert store.collections["leads"] == {} and store.collections["people"] == {}


def test_a_refused_part_leaves_nothing_behind(tiny_server, driver_factory, step_ctx):
    store, server = _party(tiny_server)
    driver = driver_factory(RELATED_PROFILE, server.base_url, identities={"admin": {}})
    refused = driver.run(_op("lead.create", data={"last_name": "Lee", "email": "nope"}),
                         step_ctx)
    assert refused.outcome == "rejected" and refused.field_errors == {
        "email": ["not an e-mail address"]}
    refused = driver.run(_op("lead.create", data={"last_name": "Lee", "email": "a@b.c",
                                                  "company": "Much Too Long Ltd"}), step_ctx)
    assert refused.outcome == "rejected" and list(refused.field_errors) == ["company"]
    assert store.collections["people"] == {}  # the person made for it was deleted again
    assert step_ctx.created == []


def test_embedded_related_records_need_no_second_call(tiny_server, driver_factory, step_ctx):
    store = Store()
    person = store.add("people", {"given": "Bo", "mail": "bo@x.org"})
    store.add("leads", {"org": "Acme", "person": person})
    server = tiny_server(store)
    profile = json.loads(json.dumps(RELATED_PROFILE))
    profile["entities"]["lead"]["related"]["person"].update(
        reference="person.id", embedded="person")
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    listed = driver.run(_op("lead.list"), step_ctx)
    assert listed.data["records"][0]["email"] == "bo@x.org"
    assert [r.path for r in server.requests] == ["/leads"]


# --------------------------------------------------------------------------- calls, ids


def test_an_operation_of_several_calls(tiny_server, driver_factory, step_ctx):
    cancelled: list[str] = []

    def handle(request: Any) -> Reply:
        if request.path.endswith("/cancel"):
            if request.path.startswith("/orders/9"):
                return 409, {}, {"message": "already shipped"}
            cancelled.append(request.path)
            return 200, {}, {"token": "t-1"}
        if request.method == "DELETE":
            ok = request.headers.get("X-Cancel-Token") == "t-1" and bool(cancelled)
            return (204, {}, b"") if ok else (409, {}, {"message": "cancel first"})
        return 404, {}, {}

    server = tiny_server(handle)
    profile = {"name": "orders", "entities": {"opportunity": {
        "collection": "/orders",
        "operations": {"delete": {"calls": [
            {"method": "POST", "path": "/orders/{id}/cancel", "save": {"token": "token"}},
            {"method": "DELETE", "path": "/orders/{{ id }}",
             "headers": {"X-Cancel-Token": "{{ saved.token }}"}},
        ]}}}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    assert driver.run(_op("opportunity.delete", id=5), step_ctx).outcome == "ok"
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/orders/5/cancel"), ("DELETE", "/orders/5")]
    refused = driver.run(_op("opportunity.delete", id=9), step_ctx)
    assert (refused.outcome, refused.status) == ("conflict", 409)
    assert server.requests[-1].path == "/orders/9/cancel"  # the second call was not sent


def test_a_new_id_from_a_header(tiny_server, driver_factory, step_ctx):
    def handle(request: Any) -> Reply:
        if request.method == "POST":
            return 204, {"OData-EntityId": "http://x/api/leads(0f1e-77)"}, b""
        return 200, {}, {"leadid": "0f1e-77", "lastname": "Ng"}

    server = tiny_server(handle)
    profile = {"name": "odata", "entities": {"lead": {
        "collection": "/api/leads", "item": "/api/leads({id})", "id_field": "leadid",
        "fields": {"last_name": "lastname"},
        "operations": {"create": {"id_header": "OData-EntityId", "read_back": True},
                       "get": None}}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    created = driver.run(_op("lead.create", data={"last_name": "Ng"}), step_ctx)
    assert created.data["record"]["id"] == "0f1e-77"
    assert created.data["record"]["last_name"] == "Ng"
    assert server.requests[-1].path == "/api/leads(0f1e-77)"
    assert step_ctx.created == [("lead", "0f1e-77", "admin")]


# --------------------------------------------------------------------------- errors


def test_field_errors_from_message_text(tiny_server, driver_factory, step_ctx):
    def handle(request: Any) -> Reply:
        body = request.json()
        if "mail" not in body:
            return 400, {}, {"error": {"message": "A value is required for field mail."}}
        return 400, {}, [
            {"message": "Required fields are missing: [LastName, Company]", "fields": []},
            {"message": "Bad e-mail", "fields": ["Email Address"]}]

    server = tiny_server(handle)
    profile = {"name": "texts",
               "errors": {"field_errors_path": "@", "shape": "list", "field_key": "fields",
                          "message_path": "error.message || [*].message",
                          "message_patterns": [
                              r"required for field (?P<field>\w+)",
                              r"(?P<field>\w+)(?=[,\]])"],
                          "field_names": {"Email Address": "email", "LastName": "last_name",
                                          "Company": "company"}},
               "entities": {"lead": {"collection": "/leads", "fields": {"email": "mail"},
                                     "operations": ["create"]}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    first = driver.run(_op("lead.create", data={"last_name": "x"}), step_ctx)
    assert first.field_errors == {"email": ["A value is required for field mail."]}
    second = driver.run(_op("lead.create", data={"email": "x"}), step_ctx)
    assert set(second.field_errors) == {"email", "last_name", "company"}
    assert second.field_errors["email"] == ["Bad e-mail"]


# --------------------------------------------------------------------------- list templates


PEOPLE = [{"Id": f"00Q{i}", "LastName": name, "Status": status}
          for i, (name, status) in enumerate([("O'Brien", "Open"), ("Obi", "Open"),
                                              ("Oscar", "Closed"), ("Olsen", "Open"),
                                              ("Otto", "Open")], 1)]


def test_json_filter_in_base64_and_total_in_a_header(tiny_server, driver_factory, step_ctx):
    def handle(request: Any) -> Reply:
        wanted = json.loads(base64.b64decode(request.q("filter") or "e30="))
        rows = [p for p in PEOPLE if all(p.get(k) == v for k, v in wanted.items())]
        start, size = int(request.q("start") or 0), int(request.q("size") or 2)
        chunk = rows[start:start + size]
        return 200, {"Content-Range": f"items {start}-{start + len(chunk) - 1}/{len(rows)}"}, \
            chunk

    server = tiny_server(handle)
    profile = {"name": "b64", "entities": {"lead": {
        "collection": "/people", "id_field": "Id",
        "fields": {"last_name": "LastName", "status": "Status"},
        "values": {"status": {"new": "Open", "unqualified": "Closed"}},
        "operations": ["list", "search"],
        "list": {"items_path": None, "total_path": None, "total_header": "Content-Range",
                 "total_pattern": r"/(?P<total>\d+)$",
                 "pagination": {"style": "offset"},
                 "request": {"params": {"filter": "{{ filters | json | base64 }}",
                                        "start": "{{ offset }}",
                                        "size": "{{ page_size or 2 }}"}}}}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    second = driver.run(_op("lead.list", filters={"status": "new"}, page=2, page_size=2),
                        step_ctx)
    assert (second.data["total"], second.data["count"]) == (4, 2)
    assert [r["last_name"] for r in second.data["records"]] == ["Olsen", "Otto"]
    assert server.requests[-1].q("start") == "2"
    every = driver.run(_op("lead.list", all=True), step_ctx)
    assert every.data["count"] == 5 and every.data["total"] == 5


def test_soql_query_with_next_records_url(tiny_server, driver_factory, step_ctx):
    queries: list[str] = []

    def handle(request: Any) -> Reply:
        if request.path.endswith("/query/more"):
            return 200, {}, {"totalSize": 3, "done": True, "records": PEOPLE[3:4]}
        soql = request.q("q") or ""
        queries.append(soql)
        return 200, {}, {"totalSize": 3, "done": False, "records": PEOPLE[:2],
                         "nextRecordsUrl": "/services/data/v59.0/query/more"}

    server = tiny_server(handle)
    profile = {"name": "soql", "entities": {"lead": {
        "collection": "/services/data/v59.0/sobjects/Lead", "id_field": "Id",
        "fields": {"last_name": "LastName", "status": "Status"},
        "operations": ["search"],
        "list": {"items_path": "records", "total_path": "totalSize",
                 "pagination": {"style": "next_link", "next_link_path": "nextRecordsUrl"},
                 "sort": {"style": "template", "param": "unused",
                          "template": "{{ field }} {{ 'DESC' if descending else 'ASC' }}"},
                 "search_request": {
                     "path": "/services/data/v59.0/query",
                     "filter": "{{ field }} = {{ value | soql }}",
                     "params": {"q": (
                         "SELECT {{ fields | join(', ') }} FROM Lead"
                         " WHERE LastName LIKE '%{{ query | soql_like }}%'"
                         "{% for clause in filter_clauses %} AND {{ clause }}{% endfor %}"
                         "{% if sort %} ORDER BY {{ sort.expression }}{% endif %}")}}}}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    found = driver.run(_op("lead.search", query="O'B_", filters={"status": "Open"},
                           sort="-last_name", all=True), step_ctx)
    assert queries == ["SELECT Id, LastName, Status FROM Lead WHERE LastName LIKE "
                       "'%O\\'B\\_%' AND Status = 'Open' ORDER BY LastName DESC"]
    assert found.data["count"] == 3 and found.data["total"] == 3
    assert server.requests[-1].path == "/services/data/v59.0/query/more"


def test_odata_filter_orderby_count_and_next_link(tiny_server, driver_factory, step_ctx):
    def handle(request: Any) -> Reply:
        assert request.headers.get("Prefer") == "odata.maxpagesize=2"
        if request.q("$skiptoken"):
            return 200, {}, {"@odata.count": 3, "value": PEOPLE[2:3]}
        return 200, {}, {"@odata.count": 3, "value": PEOPLE[:2],
                         "@odata.nextLink": f"{server.base_url}/leads?$skiptoken=2"}

    server = tiny_server(handle)
    profile = {"name": "odata", "entities": {"lead": {
        "collection": "/leads", "id_field": "Id",
        "fields": {"last_name": "LastName", "status": "Status"},
        "operations": ["search"],
        "list": {"items_path": "value", "total_path": '"@odata.count"',
                 "pagination": {"style": "next_link", "next_link_path": '"@odata.nextLink"'},
                 "sort": {"style": "template", "param": "$orderby",
                          "template": "{{ field }} {{ direction }}"},
                 "search_request": {
                     "headers": {"Prefer": "odata.maxpagesize={{ page_size or 2 }}"},
                     "filter": "{{ field }} eq {{ value | odata }}",
                     "params": {
                         "$filter": ("contains(LastName,{{ query | odata }})"
                                     "{% for c in filter_clauses %} and {{ c }}{% endfor %}"),
                         "$orderby": "{{ sort.expression if sort }}",
                         "$count": "true", "$select": "{{ fields | join(',') }}"}}}}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    page_two = driver.run(_op("lead.search", query="O'", filters={"status": "Open"},
                              sort="last_name", page=2), step_ctx)
    first = server.requests[0]
    assert first.q("$filter") == "contains(LastName,'O''') and Status eq 'Open'"
    assert first.q("$orderby") == "LastName asc" and first.q("$select") == (
        "Id,LastName,Status")
    assert [r["id"] for r in page_two.data["records"]] == ["00Q3"]
    assert page_two.data["total"] == 3


def test_search_body_with_after_cursor(tiny_server, driver_factory, step_ctx):
    bodies: list[dict[str, Any]] = []

    def handle(request: Any) -> Reply:
        body = request.json()
        bodies.append(body)
        start = int(body.get("after") or 0)
        chunk = PEOPLE[start:start + 2]
        paging = {"next": {"after": str(start + 2)}} if start + 2 < len(PEOPLE) else None
        return 200, {}, {"total": len(PEOPLE), "results": [{"id": p["Id"], "properties": p}
                                                          for p in chunk], "paging": paging}

    server = tiny_server(handle)
    profile = {"name": "hub", "entities": {"lead": {
        "collection": "/crm/v3/objects/contacts",
        "fields": {"last_name": "properties.LastName", "status": "properties.Status"},
        "operations": ["search"],
        "list": {"items_path": "results", "total_path": "total",
                 "pagination": {"style": "cursor", "next_cursor_path": "paging.next.after"},
                 "sort": {"style": "template", "param": "sorts",
                          "template": "{{ field }}"},
                 "search_request": {
                     "method": "POST", "path": "/crm/v3/objects/contacts/search",
                     "filter": {"propertyName": "{{ field.split('.')[-1] }}",
                                "operator": "EQ", "value": "{{ value }}"},
                     "body": {
                         "query": "{{ query }}",
                         "filterGroups": "{{ [{'filters': filter_clauses}] "
                                         "if filter_clauses else [] }}",
                         "sorts": "{{ [{'propertyName': sort.field.split('.')[-1], "
                                  "'direction': 'DESCENDING' if sort.descending else "
                                  "'ASCENDING'}] if sort else [] }}",
                         "limit": "{{ page_size or 2 }}",
                         "after": "{{ cursor }}",
                         "properties": "{{ fields }}"}}}}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    third = driver.run(_op("lead.search", query="o", filters={"status": "Open"},
                           sort="-last_name", page=3), step_ctx)
    assert [b.get("after") for b in bodies] == [None, "2", "4"]
    assert "after" not in bodies[0]  # a null cursor is left out of the body
    assert bodies[0]["filterGroups"] == [{"filters": [
        {"propertyName": "Status", "operator": "EQ", "value": "Open"}]}]
    assert bodies[0]["sorts"] == [{"propertyName": "LastName", "direction": "DESCENDING"}]
    assert bodies[0]["properties"] == ["id", "properties.LastName", "properties.Status"]
    assert [r["last_name"] for r in third.data["records"]] == ["Otto"]


def test_a_count_request_gives_the_total_a_page_lacks(tiny_server, driver_factory, step_ctx):
    """Pages asked with LIMIT/OFFSET count only themselves; the total comes from a request
    of its own with the same WHERE, sent once per step."""
    asked: list[str] = []

    def handle(request: Any) -> Reply:
        soql = request.q("q") or ""
        asked.append(soql)
        rows = [p for p in PEOPLE if "Status = 'Open'" not in soql or p["Status"] == "Open"]
        if soql.startswith("SELECT COUNT()"):
            return 200, {}, {"totalSize": len(rows), "done": True, "records": []}
        offset = int(re.search(r"OFFSET (\d+)", soql).group(1))  # type: ignore[union-attr]
        chunk = rows[offset:offset + 2]
        return 200, {}, {"totalSize": len(chunk), "done": True, "records": chunk}

    server = tiny_server(handle)
    where = ("{% if filter_clauses %} WHERE {{ filter_clauses | join(' AND ') }}{% endif %}")
    profile = {"name": "counted", "entities": {"lead": {
        "collection": "/sobjects/Lead", "id_field": "Id",
        "fields": {"last_name": "LastName", "status": "Status"},
        "operations": ["list"],
        "list": {"path": "/query", "items_path": "records", "total_path": None,
                 "pagination": {"style": "offset"},
                 "request": {"filter": "{{ field }} = {{ value | soql }}",
                             "params": {"q": "SELECT {{ fields | join(', ') }} FROM Lead"
                                             + where + " LIMIT {{ page_size or 2 }} "
                                             "OFFSET {{ offset }}"}},
                 "count_request": {"params": {"q": "SELECT COUNT() FROM Lead" + where},
                                   "total_path": "totalSize"}}}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    second = driver.run(_op("lead.list", filters={"status": "Open"}, page=2, page_size=2),
                        step_ctx)
    assert [r["last_name"] for r in second.data["records"]] == ["Olsen", "Otto"]
    assert second.data["total"] == 4  # not the page's own totalSize (2)
    assert asked[-1] == "SELECT COUNT() FROM Lead WHERE Status = 'Open'"
    assert sum(q.startswith("SELECT COUNT()") for q in asked) == 1

    def refuse(request: Any) -> Reply:
        if (request.q("q") or "").startswith("SELECT COUNT()"):
            return 400, {}, [{"errorCode": "MALFORMED_QUERY", "message": "unexpected token"}]
        return handle(request)

    broken = tiny_server(refuse)
    driver = driver_factory(profile, broken.base_url, identities={"admin": {}})
    with pytest.raises(EnvironmentProblem, match=r"the count request was refused"):
        driver.run(_op("lead.list", page=1, page_size=2), step_ctx)


def test_field_errors_name_the_last_part_of_nested_product_fields(tiny_server,
                                                                    driver_factory, step_ctx):
    """Products that keep fields in an object (`properties.firstname`) name them in errors
    without it (`firstname`)."""
    server = tiny_server(lambda request: (400, {}, {
        "message": "Property values were not valid",
        "errors": [{"message": "Enter the first name.", "context": {"propertyName":
                                                                    ["firstname"]}},
                   {"message": "Unknown property", "context": {"propertyName": ["shoe"]}}]}))
    profile = {"name": "nested",
               "errors": {"field_errors_path": "errors[].{f: context.propertyName, m: message}",
                          "shape": "list", "field_key": "f", "message_key": "m"},
               "entities": {"lead": {"collection": "/contacts",
                                     "fields": {"first_name": "properties.firstname"},
                                     "operations": ["create"]}}}
    driver = driver_factory(profile, server.base_url, identities={"admin": {}})
    refused = driver.run(_op("lead.create", data={"first_name": ""}), step_ctx)
    assert refused.field_errors == {"first_name": ["Enter the first name."],
                                    "shoe": ["Unknown property"]}


# --------------------------------------------------------------------------- the engine


PLAN = """
id: reach
name: Reach
system: {name: Party CRM}
target: t
targets:
  t:
    profile: party.yaml
    base_url: %(base_url)s
    destructive_ok: true
    identities: {admin: {}}
cases:
  - id: ADD-1
    title: a lead over two records, found again
    steps:
      - op: lead.create
        with: {data: {first_name: Ann, last_name: Lee, email: ann@x.org, company: Acme}}
        expect: {outcome: ok, record: {email: ann@x.org, first_name: Ann}}
        save: {id: record.id}
      - op: lead.get
        with: {id: "{{ saved.id }}"}
        expect: {outcome: ok, record: {company: Acme, last_name: Lee}}
  - id: ADD-2
    title: notes are written in the case's own step
    steps:
      - op: lead.create
        with: {data: {last_name: Lee, email: b@x.org, notes: hello}}
        expect: {outcome: ok}
  - id: EDIT-1
    title: notes written only to set up, the case is about the company
    setup:
      - op: lead.create
        with: {data: {last_name: Lee, email: c@x.org, notes: scaffolding}}
        save: {id: record.id}
    steps:
      - op: lead.update
        with: {id: "{{ saved.id }}", data: {company: Beta}}
        expect: {outcome: ok, record: {company: Beta}}
  - id: IMP-1
    title: imports are switched off on this tenant
    steps:
      - op: lead.list
        with: {}
  - id: UI-1
    title: the web client
    steps:
      - {ui: open, target: lead_list}
"""

PARTY = """
name: party
not_applicable:
  lead.list: listing is switched off on this tenant
  ui: the web client is not installed
entities:
  lead:
    collection: /leads
    fields: {company: org, notes: null}
    related:
      person:
        collection: /people
        reference: person_id
        fields: {first_name: given, last_name: family, email: mail}
    operations: [create, get, update, delete, list]
"""


def test_the_engine_runs_and_cleans_up_through_related_records(tiny_server, tmp_path: Path):
    store, server = _party(tiny_server)
    (tmp_path / "party.yaml").write_text(PARTY, encoding="utf-8")
    (tmp_path / "plan.yaml").write_text(PLAN % {"base_url": server.base_url},
                                        encoding="utf-8")
    loaded = load_plan(tmp_path / "plan.yaml")
    engine = Engine(loaded, None, Path(tempfile.mkdtemp()), "w")
    try:
        results = {case.case.id: engine.run_case(case) for case in loaded.cases}
    finally:
        engine.close()
    assert results["ADD-1"].outcome is Outcome.PASSED, results["ADD-1"].message
    assert results["EDIT-1"].outcome is Outcome.PASSED, results["EDIT-1"].message
    assert results["ADD-2"].outcome is Outcome.NOT_APPLICABLE
    assert results["ADD-2"].message == (
        "target 't' (profile 'party'): lead.notes: the product has no equivalent for it "
        "(fields.notes: null)")
    assert results["ADD-2"].steps == []  # decided before anything was sent
    assert results["IMP-1"].message == (
        "target 't' (profile 'party'): lead.list: listing is switched off on this tenant")
    assert "ui, screen:lead_list: the web client is not installed" in results["UI-1"].message
    # EDIT-1's setup wrote notes: they were kept out of the request.
    sent = [r.json() for r in server.requests if r.method == "POST" and r.path == "/leads"]
    assert all("notes" not in body for body in sent)
    # Every case cleaned up both records of each lead it made.
    assert store.collections["leads"] == {} and store.collections["people"] == {}
    assert not any(result.leftovers for result in results.values())

