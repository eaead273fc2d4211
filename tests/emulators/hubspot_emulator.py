"""A local emulator of HubSpot's CRM API v3, for the `hubspot` profile's tests.

It answers only what HubSpot documents for the requests the profile sends, in memory
(developers.hubspot.com/docs):

- Private app access tokens: `Authorization: Bearer <token>`; none or a wrong one -> 401
  `INVALID_AUTHENTICATION` ("Private apps").
- Objects `/crm/v3/objects/{contacts|companies|deals|tickets}`: create `POST {"properties"}`
  -> 201 the object (`id`, `properties`, `createdAt`, `updatedAt`, `archived`); read
  `GET /{id}?properties=a,b` -> 200 with the default properties plus those asked; update
  `PATCH /{id}` -> 200 the object; archive `DELETE /{id}` -> 204; an id that names no live
  object -> 404 `OBJECT_NOT_FOUND` ("CRM API | Contacts", "Companies", "Deals", "Tickets").
  A second contact with the same e-mail -> 409 `CONFLICT` "Contact already exists.
  Existing ID: N" (contacts are unique by e-mail address).
- Search `POST /crm/v3/objects/{type}/search`: `query` finds objects with a default
  searchable property containing the text (any letter case); `filterGroups` (OR of groups,
  AND inside; at most 5 groups, 6 filters each, 18 in all) with EQ, NEQ, IN, NOT_IN,
  HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN (`*` wildcards), LT, LTE, GT, GTE; one
  `sorts` entry; `limit` up to 200 (default 10); `after` cursors; the answer
  `{"total", "results", "paging": {"next": {"after", "link"}}}`; results only up to 10,000
  ("CRM API | Search").
- Users `GET /settings/v3/users` ("User provisioning").
- Errors `{"status": "error", "message", "correlationId", "category", "errors": [{"message",
  "in", "code"}]}` ("API error responses"); a property the object does not have
  (`PROPERTY_DOESNT_EXIST`), an e-mail that is not one (`INVALID_EMAIL`), a value outside an
  enumeration's options (`INVALID_OPTION`).

What a portal's administrator adds is a `Tenant`: property validation rules (the property
validations API's MIN_LENGTH, MAX_LENGTH and REGEX rule types), checked when a value is set
through the API. An empty text sent for a property counts as a value of no characters.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.emulators._server import Reply, Request, serve

MAX_LIMIT = 200
MAX_RESULTS = 10_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ObjectType:
    name: str  # contacts
    properties: tuple[str, ...]
    defaults: tuple[str, ...]  # returned when `properties` asks none
    searchable: tuple[str, ...]  # what `query` searches
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)  # enumerations
    required: tuple[str, ...] = ()


OBJECTS: dict[str, ObjectType] = {
    "contacts": ObjectType(
        "contacts",
        ("firstname", "lastname", "email", "phone", "mobilephone", "company", "jobtitle",
         "lifecyclestage", "hs_lead_status", "hubspot_owner_id", "hs_additional_emails",
         "fax"),
        ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        ("firstname", "lastname", "email", "phone", "mobilephone", "company",
         "hs_additional_emails", "fax"),
        {"lifecyclestage": ("subscriber", "lead", "marketingqualifiedlead",
                            "salesqualifiedlead", "opportunity", "customer", "evangelist",
                            "other"),
         "hs_lead_status": ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED",
                            "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING")}),
    "companies": ObjectType(
        "companies",
        ("name", "domain", "website", "phone", "description", "industry", "hubspot_owner_id"),
        ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        ("name", "domain", "website", "phone")),
    "deals": ObjectType(
        "deals",
        ("dealname", "amount", "closedate", "dealstage", "pipeline", "description",
         "hubspot_owner_id"),
        ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
         "hs_object_id", "pipeline"),
        ("dealname", "pipeline", "dealstage", "description"),
        {"pipeline": ("default",),
         "dealstage": ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                       "decisionmakerboughtin", "contractsent", "closedwon", "closedlost")},
        required=("dealstage",)),
    "tickets": ObjectType(
        "tickets",
        ("subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority",
         "hs_ticket_category", "hubspot_owner_id"),
        ("content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline",
         "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"),
        ("subject", "content", "hs_pipeline_stage", "hs_ticket_category"),
        {"hs_pipeline": ("0",), "hs_pipeline_stage": ("1", "2", "3", "4"),
         "hs_ticket_priority": ("LOW", "MEDIUM", "HIGH", "URGENT")},
        required=("hs_pipeline_stage",)),
}
_SYSTEM = ("createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_object_id")


@dataclass(frozen=True)
class ValidationRule:
    """A property validation rule (rule types of the property validations API)."""

    object_type: str
    property: str
    rule_type: str  # MIN_LENGTH, MAX_LENGTH, REGEX
    argument: str
    message: str


@dataclass
class Tenant:
    rules: list[ValidationRule] = field(default_factory=list)
    token: str = "pat-na1-00000000-0000-0000-0000-emulator0000"


def _error(status: int, category: str, message: str,
           errors: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"status": "error", "message": message,
                            "correlationId": str(uuid.uuid4()), "category": category}
    if errors is not None:
        body["errors"] = errors
    return status, {}, body


class HubSpotEmulator:
    """One HubSpot portal, in memory."""

    def __init__(self, base_url: str, tenant: Tenant | None = None) -> None:
        self.base_url = base_url
        self.tenant = tenant or Tenant()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in OBJECTS}
        self.next_id = 51
        self.lock = threading.Lock()
        self.users = [{"id": "10001", "email": "admin@example.com", "roleIds": [],
                       "primaryTeamId": None, "superAdmin": True}]

    def live_records(self) -> dict[str, int]:
        """How many objects of each type are not archived (for tests: what a run left)."""
        return {name: sum(not record["archived"] for record in records.values())
                for name, records in self.objects.items()}

    def handle(self, request: Request) -> Reply:
        with self.lock:
            header = request.header("authorization") or ""
            if header != f"Bearer {self.tenant.token}":
                return _error(401, "INVALID_AUTHENTICATION", "Authentication credentials not "
                              "found. This API supports OAuth 2.0 authentication and you can "
                              "find more details at https://developers.hubspot.com/docs/"
                              "methods/auth/oauth-overview")
            if request.path == "/settings/v3/users" and request.method == "GET":
                return 200, {}, {"results": self.users}
            match = re.fullmatch(r"/crm/v3/objects/(?P<type>[a-z_]+)(?:/(?P<rest>[^/]+))?/?",
                                 request.path)
            if match is None or match.group("type") not in OBJECTS:
                return _error(404, "OBJECT_NOT_FOUND", "resource not found")
            kind, rest = OBJECTS[match.group("type")], match.group("rest")
            if rest is None:
                if request.method == "POST":
                    return self._create(request, kind)
                return _error(405, "VALIDATION_ERROR", "method not allowed")
            if rest == "search" and request.method == "POST":
                return self._search(request, kind)
            record = self.objects[kind.name].get(rest)
            if record is None or record["archived"]:
                return _error(404, "OBJECT_NOT_FOUND", "resource not found")
            if request.method == "GET":
                return 200, {}, self._out(kind, record, request.q("properties"))
            if request.method == "PATCH":
                return self._update(request, kind, record)
            if request.method == "DELETE":
                record["archived"] = True
                record["archivedAt"] = _now()
                return 204, {}, None
            return _error(405, "VALIDATION_ERROR", "method not allowed")

    # ------------------------------------------------------------------ writes

    def _properties(self, request: Request) -> tuple[dict[str, Any], Reply | None]:
        try:
            body = request.json()
        except ValueError:
            return {}, _error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return {}, _error(400, "VALIDATION_ERROR", "Invalid input JSON: `properties` "
                              "is required")
        return properties, None

    def _invalid(self, kind: ObjectType, properties: dict[str, Any]) -> Reply | None:
        errors: list[dict[str, Any]] = []
        for name, value in properties.items():
            text = "" if value is None else str(value)
            if name not in kind.properties:
                errors.append({"message": f'Property "{name}" does not exist',
                               "code": "PROPERTY_DOESNT_EXIST", "in": name})
                continue
            if name in kind.options and text and text not in kind.options[name]:
                errors.append({"message": f"{text} was not one of the allowed options: "
                               f"{list(kind.options[name])}", "code": "INVALID_OPTION",
                               "in": name})
            if name == "email" and text and not _EMAIL.match(text):
                errors.append({"message": f"Email address {text} is invalid",
                               "code": "INVALID_EMAIL", "in": name})
            for rule in self.tenant.rules:
                if rule.object_type != kind.name or rule.property != name:
                    continue
                broken = (
                    (rule.rule_type == "MIN_LENGTH" and len(text) < int(rule.argument))
                    or (rule.rule_type == "MAX_LENGTH" and len(text) > int(rule.argument))
                    or (rule.rule_type == "REGEX" and text
                        and re.fullmatch(rule.argument, text) is None))
                if broken:
                    errors.append({"message": rule.message, "code": rule.rule_type,
                                   "in": name})
        if not errors:
            return None
        summary = "; ".join(f"{e['in']}: {e['message']}" for e in errors)
        return _error(400, "VALIDATION_ERROR", f"Property values were not valid: {summary}",
                      errors)

    def _duplicate(self, kind: ObjectType, properties: dict[str, Any],
                   own_id: str | None) -> Reply | None:
        email = properties.get("email")
        if kind.name != "contacts" or not email:
            return None
        for other in self.objects["contacts"].values():
            if (other["id"] != own_id and not other["archived"]
                    and str(other["properties"].get("email") or "").casefold()
                    == str(email).casefold()):
                return _error(409, "CONFLICT", f"Contact already exists. Existing ID: "
                              f"{other['id']}")
        return None

    def _create(self, request: Request, kind: ObjectType) -> Reply:
        properties, refused = self._properties(request)
        if refused is not None:
            return refused
        refused = self._invalid(kind, properties)
        missing = [name for name in kind.required if not properties.get(name)]
        if refused is None and missing:
            refused = _error(400, "VALIDATION_ERROR", f"Property values were not valid: "
                             f"{', '.join(missing)} is required",
                             [{"message": f"{name} is required", "code": "REQUIRED_PROPERTY",
                               "in": name} for name in missing])
        refused = refused or self._duplicate(kind, properties, None)
        if refused is not None:
            return refused
        record_id = str(self.next_id)
        self.next_id += 1
        now = _now()
        stored = {name: (None if value in (None, "") else str(value))
                  for name, value in properties.items()}
        stored.update(createdate=now, lastmodifieddate=now, hs_lastmodifieddate=now,
                      hs_object_id=record_id)
        record = {"id": record_id, "properties": stored, "createdAt": now, "updatedAt": now,
                  "archived": False}
        self.objects[kind.name][record_id] = record
        return 201, {}, self._out(kind, record, ",".join(properties))

    def _update(self, request: Request, kind: ObjectType, record: dict[str, Any]) -> Reply:
        properties, refused = self._properties(request)
        if refused is not None:
            return refused
        refused = self._invalid(kind, properties) or self._duplicate(kind, properties,
                                                                      record["id"])
        if refused is not None:
            return refused
        now = _now()
        record["properties"].update({name: (None if value in (None, "") else str(value))
                                     for name, value in properties.items()})
        record["properties"].update(lastmodifieddate=now, hs_lastmodifieddate=now)
        record["updatedAt"] = now
        return 200, {}, self._out(kind, record, ",".join(properties))

    def _out(self, kind: ObjectType, record: dict[str, Any], asked: str | None
             ) -> dict[str, Any]:
        names = list(kind.defaults)
        names += [name.strip() for name in (asked or "").split(",")
                  if name.strip() in kind.properties and name.strip() not in names]
        return {"id": record["id"],
                "properties": {name: record["properties"].get(name) for name in names
                               if name in record["properties"] or name in kind.defaults},
                "createdAt": record["createdAt"], "updatedAt": record["updatedAt"],
                "archived": record["archived"]}

    # ------------------------------------------------------------------ search

    def _search(self, request: Request, kind: ObjectType) -> Reply:
        try:
            body = request.json() or {}
        except ValueError:
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        groups = body.get("filterGroups") or []
        filters = [f for group in groups for f in (group.get("filters") or [])]
        if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups) or (
                len(filters) > 18):
            return _error(400, "VALIDATION_ERROR", "Too many filter groups or filters: at "
                          "most 5 groups of 6 filters, 18 filters in all")
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            return _error(400, "VALIDATION_ERROR", "Only one sort is allowed")
        limit = int(body.get("limit") or 10)
        if limit > MAX_LIMIT:
            return _error(400, "VALIDATION_ERROR", f"limit must be at most {MAX_LIMIT}")
        for item in filters:
            if item.get("propertyName") not in (*kind.properties, *_SYSTEM):
                return _error(400, "VALIDATION_ERROR", f"Property "
                              f"\"{item.get('propertyName')}\" does not exist")
        live = [r for r in self.objects[kind.name].values() if not r["archived"]]
        query = str(body.get("query") or "").casefold()
        if query:
            live = [r for r in live if any(query in str(r["properties"].get(name) or "")
                                           .casefold() for name in kind.searchable)]
        if groups:
            live = [r for r in live if any(all(_matches(f, r["properties"])
                                               for f in g.get("filters") or [])
                                           for g in groups)]
        live.sort(key=lambda r: int(r["id"]))  # oldest first
        for item in sorts:
            name = item.get("propertyName")
            descending = item.get("direction") == "DESCENDING"
            live.sort(key=lambda r, n=name: str(r["properties"].get(n) or "").casefold(),
                      reverse=descending)
        live = live[:MAX_RESULTS]
        start = int(body.get("after") or 0)
        page = live[start:start + limit]
        answer: dict[str, Any] = {"total": len(live), "results": [
            self._out(kind, record, ",".join(body.get("properties") or []))
            for record in page]}
        if start + limit < len(live):
            after = str(start + limit)
            answer["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return 200, {}, answer


def _matches(item: dict[str, Any], properties: dict[str, Any]) -> bool:
    operator = item.get("operator", "EQ")
    value = properties.get(item.get("propertyName"))
    text = "" if value is None else str(value).casefold()
    wanted = str(item.get("value", "")).casefold()
    if operator == "HAS_PROPERTY":
        return value not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if operator in ("IN", "NOT_IN"):
        found = text in [str(v).casefold() for v in item.get("values") or []]
        return found if operator == "IN" else not found
    if operator == "EQ":
        return value is not None and text == wanted
    if operator == "NEQ":
        return text != wanted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        tokens = text.split()
        found = fnmatch.fnmatchcase(text, wanted) or any(
            fnmatch.fnmatchcase(token, wanted) for token in tokens)
        return found if operator == "CONTAINS_TOKEN" else not found
    if value is None:
        return False
    try:
        left, right = float(text), float(wanted)
    except ValueError:
        left, right = text, wanted  # type: ignore[assignment]
    return {"LT": left < right, "LTE": left <= right, "GT": left > right,
            "GTE": left >= right}.get(operator, False)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


if __name__ == "__main__":
    serve("HubSpot", HubSpotEmulator)
