"""A local emulator of the Salesforce REST API, for the `salesforce` profile's tests.

It answers only what Salesforce documents for the endpoints the profile uses, in memory:

- OAuth 2.0 client credentials flow: `POST /services/oauth2/token` (form) -> `access_token`,
  `instance_url`, `id`, `token_type`, `issued_at`, `signature` (no `expires_in`; the session
  lasts the org's timeout). Bad client: 400 `{"error": "invalid_client", ...}`.
  (help.salesforce.com "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration")
- sObject rows under `/services/data/vXX.X/sobjects/{Type}/`: create `POST` -> 201
  `{"id", "success": true, "errors": []}`; `GET .../{id}` -> 200 the record with its
  `attributes`; `PATCH` -> 204; `DELETE` -> 204; an id that names nothing -> 404
  `NOT_FOUND`, a deleted row -> 404 `ENTITY_IS_DELETED` (REST API Developer Guide, "sObject
  Rows", "Status Codes and Error Responses").
- `GET /services/data/vXX.X/query?q=SOQL`: `{"totalSize", "done", "records"}`, and
  `nextRecordsUrl` while `done` is false; the batch size comes from the
  `Sforce-Query-Options: batchSize=N` header (200 to 2,000, default 2,000) ("Query",
  "Query Options Header"). The SOQL subset the profile writes: SELECT fields or COUNT(),
  WHERE with =, !=, <, >, LIKE (case-insensitive, `%` `_`, backslash escapes), IN, AND, OR,
  NOT, parentheses; ORDER BY ... ASC|DESC NULLS FIRST|LAST; LIMIT; OFFSET (at most 2,000)
  (SOQL and SOSL Reference). Anything else is `MALFORMED_QUERY`.
- Errors are a list of `{"message", "errorCode", "fields"}`; no or bad token -> 401
  `INVALID_SESSION_ID`. Saves check required fields (`REQUIRED_FIELD_MISSING`), lengths
  (`STRING_TOO_LONG`), e-mail fields (`INVALID_EMAIL_ADDRESS`), restricted picklists
  (`INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`), unknown fields (`INVALID_FIELD`) and read-only
  fields (`INVALID_FIELD_FOR_INSERT_UPDATE`), then the org's own rules.

The org's own rules are what an administrator sets up, and they are given to the emulator
as a `Tenant`: validation rules (`FIELD_CUSTOM_VALIDATION_EXCEPTION`, naming the field the
rule's error is shown at) and duplicate rules that block (`DUPLICATES_DETECTED`, with the
`duplicateResult` whose match records list `fieldDiffs`). Field lengths, required fields and
picklist values are the standard objects' (Object Reference for the Salesforce Platform).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from tests.emulators._server import Reply, Request, serve

API_PATH = re.compile(r"^/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?$")
DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_OFFSET = 2000

# ------------------------------------------------------------------ the standard objects


@dataclass(frozen=True)
class Field:
    """One field of a standard object, as its describe says."""

    name: str
    label: str
    kind: str = "string"  # string, email, phone, textarea, picklist, date, currency, id,
    #                       reference, datetime, boolean
    length: int | None = None
    required: bool = False  # nillable false, no default: REQUIRED_FIELD_MISSING
    default: Any = None
    values: tuple[str, ...] = ()  # restricted picklist values
    writable: bool = True


def _common() -> list[Field]:
    return [Field("Id", "Record ID", "id", writable=False),
            Field("OwnerId", "Owner ID", "reference"),
            Field("CreatedDate", "Created Date", "datetime", writable=False),
            Field("LastModifiedDate", "Last Modified Date", "datetime", writable=False)]


OBJECTS: dict[str, tuple[str, list[Field]]] = {
    # key prefix, fields
    "Lead": ("00Q", [
        *_common(),
        Field("FirstName", "First Name", length=40),
        Field("LastName", "Last Name", length=80, required=True),
        Field("Name", "Full Name", writable=False),
        Field("Email", "Email", "email", length=80),
        Field("Phone", "Phone", "phone", length=40),
        Field("Company", "Company", length=255, required=True),
        Field("Title", "Title", length=128),
        # The default Lead Status and Lead Source picklists of an org.
        Field("Status", "Lead Status", "picklist", default="Open - Not Contacted",
              values=("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                      "Closed - Not Converted")),
        Field("LeadSource", "Lead Source", "picklist",
              values=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")),
        Field("Description", "Description", "textarea", length=32000),
        Field("IsConverted", "Converted", "boolean", default=False, writable=False),
    ]),
    "Contact": ("003", [
        *_common(),
        Field("FirstName", "First Name", length=40),
        Field("LastName", "Last Name", length=80, required=True),
        Field("Name", "Full Name", writable=False),
        Field("Email", "Email", "email", length=80),
        Field("Phone", "Business Phone", "phone", length=40),
        Field("Title", "Title", length=128),
        Field("AccountId", "Account ID", "reference"),
        Field("Description", "Contact Description", "textarea", length=32000),
    ]),
    "Account": ("001", [
        *_common(),
        Field("Name", "Account Name", length=255, required=True),
        Field("Industry", "Industry", "string", length=255),
        Field("Website", "Website", length=255),
        Field("Phone", "Account Phone", "phone", length=40),
        Field("Description", "Account Description", "textarea", length=32000),
    ]),
    "Opportunity": ("006", [
        *_common(),
        Field("Name", "Name", length=120, required=True),
        Field("StageName", "Stage", "picklist", required=True, values=(
            "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
            "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
            "Negotiation/Review", "Closed Won", "Closed Lost")),
        Field("CloseDate", "Close Date", "date", required=True),
        Field("Amount", "Amount", "currency"),
        Field("AccountId", "Account ID", "reference"),
        Field("Description", "Description", "textarea", length=32000),
    ]),
    "Case": ("500", [
        *_common(),
        Field("Subject", "Subject", length=255),
        Field("Description", "Description", "textarea", length=32000),
        Field("Status", "Status", "picklist", default="New",
              values=("New", "Working", "Escalated", "Closed")),
        Field("Priority", "Priority", "picklist", default="Medium",
              values=("High", "Medium", "Low")),
        Field("Type", "Type", "picklist", values=("Mechanical", "Electrical", "Electronic",
                                                 "Structural", "Other")),
        Field("ContactId", "Contact ID", "reference"),
        Field("AccountId", "Account ID", "reference"),
    ]),
    "User": ("005", [
        *_common(),
        Field("Username", "Username", length=80, required=True),
        Field("FirstName", "First Name", length=40),
        Field("LastName", "Last Name", length=80, required=True),
        Field("Name", "Full Name", writable=False),
        Field("Email", "Email", "email", length=128, required=True),
        Field("IsActive", "Active", "boolean", default=True),
    ]),
}
# Users are read here, never written (a licence each, and not in the profile).
READ_ONLY_OBJECTS = frozenset({"User"})

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*"
                    r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def _fields(sobject: str) -> dict[str, Field]:
    return {f.name.lower(): f for f in OBJECTS[sobject][1]}


# ------------------------------------------------------------------ the org's own rules


@dataclass(frozen=True)
class ValidationRule:
    """A validation rule an administrator wrote: when `fails(value)` holds for the field,
    the save is refused with `message`, shown at `field`."""

    sobject: str
    field: str
    message: str
    blank: bool = False  # ISBLANK(field)
    not_matching: str | None = None  # NOT(REGEX(field, pattern)), when the field has a value


@dataclass(frozen=True)
class DuplicateRule:
    """An active duplicate rule whose matching rule compares `fields` exactly, blocking."""

    sobject: str
    fields: tuple[str, ...]
    message: str = "Use one of these records?"
    name: str = "Standard_Rule"


@dataclass
class Tenant:
    """What the org's administrator configured beyond the standard objects."""

    validation_rules: list[ValidationRule] = field(default_factory=list)
    duplicate_rules: list[DuplicateRule] = field(default_factory=list)
    client_id: str = "3MVG9-emulator-client"
    client_secret: str = "emulator-secret"


def _error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        error["fields"] = fields
    return error


class SalesforceEmulator:
    """One org, in memory."""

    def __init__(self, base_url: str, tenant: Tenant | None = None) -> None:
        self.base_url = base_url
        self.tenant = tenant or Tenant()
        self.org_id = "00D000000000001EAA"
        self.user_id = "005000000000001AAA"
        self.tokens: set[str] = set()
        self.rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in OBJECTS}
        self.deleted: set[str] = set()
        self.cursors: dict[str, tuple[list[dict[str, Any]], int, int]] = {}
        self.counter = 0
        self.lock = threading.Lock()
        now = _now()
        self.rows["User"][self.user_id] = {
            "Id": self.user_id, "Username": "integration@example.com", "FirstName": "Api",
            "LastName": "Integration", "Name": "Api Integration",
            "Email": "integration@example.com", "IsActive": True, "OwnerId": None,
            "CreatedDate": now, "LastModifiedDate": now}

    def live_records(self) -> dict[str, int]:
        """How many records each object holds (for tests: what a run left behind)."""
        return {name: len(rows) for name, rows in self.rows.items()}

    # ------------------------------------------------------------------ routing

    def handle(self, request: Request) -> Reply:
        with self.lock:
            if request.path == "/services/oauth2/token":
                return self._token(request)
            match = API_PATH.match(request.path)
            if match is None:
                return 404, {}, [_error("NOT_FOUND", "The requested resource does not exist")]
            if not self._authorised(request):
                return 401, {"WWW-Authenticate": 'Token'}, [
                    _error("INVALID_SESSION_ID", "Session expired or invalid")]
            version = match.group("version")
            rest = match.group("rest") or "/"
            parts = [unquote(part) for part in rest.strip("/").split("/") if part]
            if parts and parts[0] == "query":
                return self._query(request, version, parts[1:])
            if len(parts) >= 2 and parts[0] == "sobjects":
                return self._sobject(request, version, parts[1], parts[2:])
            return 404, {}, [_error("NOT_FOUND", "The requested resource does not exist")]

    def _authorised(self, request: Request) -> bool:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        return scheme.lower() in ("bearer", "oauth") and token in self.tokens

    # ------------------------------------------------------------------ OAuth 2.0

    def _token(self, request: Request) -> Reply:
        if request.method != "POST":
            return 405, {}, None
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return 400, {}, {"error": "unsupported_grant_type",
                             "error_description": "grant type not supported"}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.header("authorization") or ""
        if auth.lower().startswith("basic "):
            import base64

            decoded = base64.b64decode(auth[6:]).decode("utf-8")
            client_id, _, secret = decoded.partition(":")
        if client_id != self.tenant.client_id or secret != self.tenant.client_secret:
            return 400, {}, {"error": "invalid_client",
                             "error_description": "invalid client credentials"}
        self.counter += 1
        token = f"{self.org_id}!AQ0AQ.emulator.{self.counter}.{time.time_ns()}"
        self.tokens.add(token)
        return 200, {}, {
            "access_token": token, "signature": "emulator-signature", "scope": "api",
            "instance_url": self.base_url,
            "id": f"{self.base_url}/id/{self.org_id}/{self.user_id}",
            "token_type": "Bearer", "issued_at": str(int(time.time() * 1000)),
        }

    # ------------------------------------------------------------------ sObject rows

    def _sobject(self, request: Request, version: str, sobject_name: str,
                 rest: list[str]) -> Reply:
        sobject = next((name for name in OBJECTS if name.lower() == sobject_name.lower()),
                       None)
        if sobject is None:
            return 404, {}, [_error("NOT_FOUND", "The requested resource does not exist")]
        if not rest:
            if request.method != "POST":
                return 405, {}, [_error("METHOD_NOT_ALLOWED", "HTTP Method "
                                        f"'{request.method}' not allowed. Allowed are POST")]
            if sobject in READ_ONLY_OBJECTS:
                return 403, {}, [_error("INSUFFICIENT_ACCESS", "insufficient access rights "
                                        "on object id")]
            return self._create(request, version, sobject)
        record_id = rest[0]
        if record_id in self.deleted:
            return 404, {}, [_error("ENTITY_IS_DELETED", "entity is deleted", [])]
        row = self.rows[sobject].get(record_id)
        if row is None:
            if not _looks_like_id(record_id):
                # Not an id: the API reads it as an external id field name.
                return 404, {}, [_error("NOT_FOUND", "Provided external ID field does not "
                                        f"exist or is not accessible: {record_id}")]
            return 404, {}, [_error("NOT_FOUND", "The requested resource does not exist")]
        if request.method == "GET":
            return 200, {}, self._record_out(sobject, version, row, request.q("fields"))
        if request.method == "PATCH":
            if sobject in READ_ONLY_OBJECTS:
                return 403, {}, [_error("INSUFFICIENT_ACCESS", "insufficient access rights "
                                        "on object id")]
            return self._update(request, sobject, row)
        if request.method == "DELETE":
            del self.rows[sobject][record_id]
            self.deleted.add(record_id)
            return 204, {}, None
        return 405, {}, [_error("METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not "
                                "allowed. Allowed are GET,PATCH,DELETE")]

    def _body(self, request: Request) -> tuple[dict[str, Any] | None, Reply | None]:
        try:
            body = request.json()
        except ValueError:
            return None, (400, {}, [_error("JSON_PARSER_ERROR", "Unexpected character: was "
                                           "expecting a JSON value")])
        if not isinstance(body, dict):
            return None, (400, {}, [_error("JSON_PARSER_ERROR", "Cannot deserialize instance "
                                           "of SObject from a non-object value")])
        return body, None

    def _create(self, request: Request, version: str, sobject: str) -> Reply:
        body, refused = self._body(request)
        if refused is not None:
            return refused
        assert body is not None
        values, errors = self._writable(sobject, body)
        if errors:
            return 400, {}, errors
        known = _fields(sobject)
        row: dict[str, Any] = {f.name: f.default for f in known.values()}
        row.update(values)
        errors = self._check(sobject, row, None)
        if errors:
            return 400, {}, errors
        prefix = OBJECTS[sobject][0]
        self.counter += 1
        record_id = f"{prefix}{self.counter:012d}AAA"[:15] + "AAA"
        now = _now()
        row.update(Id=record_id, OwnerId=self.user_id, CreatedDate=now, LastModifiedDate=now)
        self._derive(sobject, row)
        self.rows[sobject][record_id] = row
        return 201, {"Location": f"/services/data/v{version}/sobjects/{sobject}/{record_id}"}, \
            {"id": record_id, "success": True, "errors": []}

    def _update(self, request: Request, sobject: str, row: dict[str, Any]) -> Reply:
        body, refused = self._body(request)
        if refused is not None:
            return refused
        assert body is not None
        values, errors = self._writable(sobject, body)
        if errors:
            return 400, {}, errors
        changed = {**row, **values}
        errors = self._check(sobject, changed, row["Id"])
        if errors:
            return 400, {}, errors
        changed["LastModifiedDate"] = _now()
        self._derive(sobject, changed)
        row.clear()
        row.update(changed)
        return 204, {}, None

    def _writable(self, sobject: str, body: dict[str, Any]
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The body's fields under their API names; unknown and read-only fields refused."""
        known = _fields(sobject)
        values: dict[str, Any] = {}
        for name, value in body.items():
            if name == "attributes":
                continue
            spec = known.get(name.lower())
            if spec is None:
                return {}, [_error("INVALID_FIELD", f"No such column '{name}' on sobject of "
                                   f"type {sobject}")]
            if not spec.writable:
                return {}, [_error("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update"
                                   f" fields: {spec.name}. Please check the security settings "
                                   "of this field and verify that it is read/write for your "
                                   "profile or permission set.", [spec.name])]
            # Blank text is stored as null (text fields have no empty value).
            values[spec.name] = None if value == "" else value
        return values, []

    def _check(self, sobject: str, row: dict[str, Any], own_id: str | None
               ) -> list[dict[str, Any]]:
        """System validation, then the org's validation rules, then its duplicate rules."""
        errors: list[dict[str, Any]] = []
        known = _fields(sobject)
        missing = [f.name for f in known.values()
                   if f.required and f.writable and row.get(f.name) in (None, "")]
        if missing:
            errors.append(_error("REQUIRED_FIELD_MISSING",
                                 f"Required fields are missing: [{', '.join(missing)}]",
                                 missing))
        for spec in known.values():
            value = row.get(spec.name)
            if value is None or not spec.writable:
                continue
            if spec.length is not None and isinstance(value, str) and len(value) > spec.length:
                errors.append(_error("STRING_TOO_LONG", f"{spec.label}: data value too large: "
                                     f"{value} (max length={spec.length})", [spec.name]))
            elif spec.kind == "email" and (not isinstance(value, str)
                                           or not _EMAIL.match(value)):
                errors.append(_error("INVALID_EMAIL_ADDRESS",
                                     f"{spec.label}: invalid email address: {value}",
                                     [spec.name]))
            elif spec.kind == "picklist" and spec.values and value not in spec.values:
                errors.append(_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                     f"{spec.label}: bad value for restricted picklist "
                                     f"field: {value}", [spec.name]))
        if errors:
            return errors
        for rule in self.tenant.validation_rules:
            if rule.sobject != sobject:
                continue
            value = row.get(rule.field)
            blank = value in (None, "")
            if (rule.blank and blank) or (
                    rule.not_matching is not None and not blank
                    and re.fullmatch(rule.not_matching, str(value)) is None):
                errors.append(_error("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message,
                                     [rule.field]))
        if errors:
            return errors
        for duplicate in self.tenant.duplicate_rules:
            if duplicate.sobject != sobject:
                continue
            found = self._duplicates(sobject, duplicate, row, own_id)
            if found:
                return [self._duplicate_error(sobject, duplicate, row, found)]
        return []

    def _duplicates(self, sobject: str, rule: DuplicateRule, row: dict[str, Any],
                    own_id: str | None) -> list[dict[str, Any]]:
        def same(a: Any, b: Any) -> bool:
            return isinstance(a, str) and isinstance(b, str) and a.casefold() == b.casefold()

        if any(row.get(name) in (None, "") for name in rule.fields):
            return []
        return [other for other in self.rows[sobject].values() if other["Id"] != own_id
                and all(same(other.get(name), row.get(name)) for name in rule.fields)]

    def _duplicate_error(self, sobject: str, rule: DuplicateRule, row: dict[str, Any],
                         found: list[dict[str, Any]]) -> dict[str, Any]:
        records = [{
            "additionalInformation": [],
            "fieldDiffs": [{"difference": "SAME", "name": name} for name in rule.fields],
            "matchConfidence": 100.0,
            "record": {"attributes": {"type": sobject}, "Id": other["Id"]},
        } for other in found]
        return {
            "duplicateResult": {
                "allowSave": False, "duplicateRule": rule.name,
                "duplicateRuleEntityType": sobject, "errorMessage": rule.message,
                "matchResults": [{
                    "entityType": sobject, "errors": [], "matchEngine": "ExactMatchEngine",
                    "matchRecords": records, "rule": f"{rule.name}_Matching",
                    "size": len(records), "success": True}],
            },
            "errorCode": "DUPLICATES_DETECTED", "fields": [], "message": rule.message,
        }

    def _derive(self, sobject: str, row: dict[str, Any]) -> None:
        if "Name" in row and sobject in ("Lead", "Contact", "User"):
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)

    def _record_out(self, sobject: str, version: str, row: dict[str, Any],
                    fields: str | None = None) -> dict[str, Any]:
        names = [f.name for f in OBJECTS[sobject][1]]
        if fields:
            wanted = {name.strip().lower() for name in fields.split(",")}
            names = [name for name in names if name.lower() in wanted or name == "Id"]
        out: dict[str, Any] = {"attributes": {
            "type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}"}}
        out.update({name: row.get(name) for name in names})
        return out

    # ------------------------------------------------------------------ query

    def _query(self, request: Request, version: str, rest: list[str]) -> Reply:
        if request.method != "GET":
            return 405, {}, None
        if rest:  # a query locator: the next batch
            cursor = self.cursors.get(rest[0])
            if cursor is None:
                return 400, {}, [_error("INVALID_QUERY_LOCATOR", "invalid query locator")]
            records, start, size = cursor
            return 200, {}, self._batch(version, rest[0].split("-")[0], records, start, size,
                                        len(records))
        text = request.q("q")
        if not text:
            return 400, {}, [_error("MALFORMED_QUERY", "SOQL statement cannot be empty")]
        try:
            query = Soql(text).parse()
        except SoqlError as exc:
            return 400, {}, [_error("MALFORMED_QUERY", str(exc))]
        if query.sobject not in OBJECTS:
            return 400, {}, [_error("INVALID_TYPE", f"sObject type '{query.sobject}' is not "
                                    "supported.")]
        known = _fields(query.sobject)
        for name in query.fields_used():
            if name.lower() not in known:
                return 400, {}, [_error("INVALID_FIELD", f"No such column '{name}' on entity "
                                        f"'{query.sobject}'.")]
        if query.offset is not None and query.offset > MAX_OFFSET:
            return 400, {}, [_error("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset "
                                    f"allowed is {MAX_OFFSET}")]
        rows = [row for row in self.rows[query.sobject].values() if query.matches(row)]
        if query.count:
            return 200, {}, {"totalSize": len(rows), "done": True, "records": []}
        rows.sort(key=lambda row: row["Id"])
        for name, descending, nulls_last in reversed(query.order):
            spec = known[name.lower()]
            present = [row for row in rows if row.get(spec.name) is not None]
            absent = [row for row in rows if row.get(spec.name) is None]
            present.sort(key=lambda row: _sort_key(row[spec.name]), reverse=descending)
            rows = present + absent if nulls_last else absent + present
        if query.offset:
            rows = rows[query.offset:]
        if query.limit is not None:
            rows = rows[:query.limit]
        selected = [known[name.lower()].name for name in query.select]
        records = [{"attributes": {"type": query.sobject, "url": f"/services/data/v{version}/"
                                   f"sobjects/{query.sobject}/{row['Id']}"},
                    **{name: row.get(name) for name in selected}} for row in rows]
        size = _batch_size(request.header("sforce-query-options"))
        self.counter += 1
        locator = f"01g{self.counter:012d}AAA"
        return 200, {}, self._batch(version, locator, records, 0, size, len(records))

    def _batch(self, version: str, locator: str, records: list[dict[str, Any]], start: int,
               size: int, total: int) -> dict[str, Any]:
        end = start + size
        answer: dict[str, Any] = {"totalSize": total, "done": end >= len(records),
                                  "records": records[start:end]}
        if end < len(records):
            key = f"{locator}-{end}"
            self.cursors[key] = (records, end, size)
            answer["nextRecordsUrl"] = f"/services/data/v{version}/query/{key}"
        return answer


def _batch_size(header: str | None) -> int:
    """`Sforce-Query-Options: batchSize=N`: 200 to 2,000; the default 2,000."""
    match = re.search(r"batchSize\s*=\s*(\d+)", header or "")
    if match is None:
        return DEFAULT_BATCH
    return max(MIN_BATCH, min(DEFAULT_BATCH, int(match.group(1))))


def _looks_like_id(text: str) -> bool:
    return re.fullmatch(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?", text) is not None


def _sort_key(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


# ------------------------------------------------------------------ SOQL


class SoqlError(ValueError):
    """A query outside the subset: MALFORMED_QUERY."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:\\.|[^'\\])*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
)""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'",
            "\\": "\\"}


@dataclass
class Literal:
    raw: str  # the text between the quotes, escapes kept (LIKE needs them)
    value: Any


@dataclass
class Query:
    sobject: str = ""
    select: list[str] = field(default_factory=list)
    count: bool = False
    where: Any = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None

    def fields_used(self) -> list[str]:
        names = list(self.select) + [name for name, _, _ in self.order]

        def walk(node: Any) -> None:
            if node is None:
                return
            if node[0] in ("and", "or"):
                walk(node[1])
                walk(node[2])
            elif node[0] == "not":
                walk(node[1])
            else:
                names.append(node[1])

        walk(self.where)
        return names

    def matches(self, row: dict[str, Any]) -> bool:
        lowered = {name.lower(): value for name, value in row.items()}

        def test(node: Any) -> bool:
            kind = node[0]
            if kind == "and":
                return test(node[1]) and test(node[2])
            if kind == "or":
                return test(node[1]) or test(node[2])
            if kind == "not":
                return not test(node[1])
            _, name, op, literal = node
            value = lowered.get(name.lower())
            if op == "like":
                return isinstance(value, str) and _like(literal.raw).fullmatch(value) is not None
            if op in ("in", "not in"):
                found = any(_equal(value, item.value) for item in literal)
                return found if op == "in" else not found
            if op == "=":
                return _equal(value, literal.value)
            if op == "!=":
                return not _equal(value, literal.value)
            if value is None or literal.value is None:
                return False
            left, right = _sort_key(value), _sort_key(literal.value)
            return {"<": left < right, "<=": left <= right, ">": left > right,
                    ">=": left >= right}[op]

        return self.where is None or test(self.where)


def _equal(value: Any, other: Any) -> bool:
    # Text comparisons in SOQL are case-insensitive.
    if isinstance(value, str) and isinstance(other, str):
        return value.casefold() == other.casefold()
    return value == other


def _like(raw: str) -> re.Pattern[str]:
    """A LIKE pattern (`%`, `_`, backslash escapes) as a case-insensitive regex."""
    out = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            following = raw[index + 1]
            out.append(re.escape(_ESCAPES.get(following, following)))
            index += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


class Soql:
    """A small recursive-descent parser of the SOQL subset the profile writes."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise SoqlError(f"unexpected token: '{text[position:position + 20]}'")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.index = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise SoqlError("unexpected end of query")
        self.index += 1
        return token

    def _keyword(self, *words: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].upper() in words:
            self.index += 1
            return True
        return False

    def _expect(self, word: str) -> None:
        if not self._keyword(word):
            token = self._peek()
            raise SoqlError(f"expecting '{word}', found '{token[1] if token else 'EOF'}'")

    def _punct(self, char: str) -> bool:
        token = self._peek()
        if token == ("punct", char):
            self.index += 1
            return True
        return False

    def parse(self) -> Query:
        query = Query()
        self._expect("SELECT")
        if self._keyword("COUNT"):
            if not (self._punct("(") and self._punct(")")):
                raise SoqlError("COUNT() takes no field here")
            query.count = True
        else:
            while True:
                kind, name = self._next()
                if kind != "word":
                    raise SoqlError(f"unexpected token: '{name}'")
                query.select.append(name)
                if not self._punct(","):
                    break
        self._expect("FROM")
        kind, name = self._next()
        if kind != "word":
            raise SoqlError(f"unexpected token: '{name}'")
        query.sobject = next((o for o in OBJECTS if o.lower() == name.lower()), name)
        if self._keyword("WHERE"):
            query.where = self._or()
        if self._keyword("ORDER"):
            self._expect("BY")
            while True:
                kind, name = self._next()
                if kind != "word":
                    raise SoqlError(f"unexpected token: '{name}'")
                descending = False
                if self._keyword("DESC"):
                    descending = True
                else:
                    self._keyword("ASC")
                nulls_last = descending  # SOQL: nulls first ascending, last descending
                if self._keyword("NULLS"):
                    if self._keyword("LAST"):
                        nulls_last = True
                    else:
                        self._expect("FIRST")
                        nulls_last = False
                query.order.append((name, descending, nulls_last))
                if not self._punct(","):
                    break
        if self._keyword("LIMIT"):
            query.limit = self._integer()
        if self._keyword("OFFSET"):
            query.offset = self._integer()
        token = self._peek()
        if token is not None:
            raise SoqlError(f"unexpected token: '{token[1]}'")
        return query

    def _integer(self) -> int:
        kind, text = self._next()
        if kind != "number" or "." in text or text.startswith("-"):
            raise SoqlError(f"unexpected token: '{text}'")
        return int(text)

    def _or(self) -> Any:
        node = self._and()
        while self._keyword("OR"):
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._keyword("AND"):
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        if self._keyword("NOT"):
            return ("not", self._not())
        if self._punct("("):
            node = self._or()
            if not self._punct(")"):
                raise SoqlError("expecting ')'")
            return node
        kind, name = self._next()
        if kind != "word":
            raise SoqlError(f"unexpected token: '{name}'")
        if self._keyword("LIKE"):
            literal = self._literal()
            if not isinstance(literal.value, str):
                raise SoqlError("LIKE needs a string")
            return ("cmp", name, "like", literal)
        negated = self._keyword("NOT")
        if self._keyword("IN"):
            if not self._punct("("):
                raise SoqlError("expecting '('")
            items = [self._literal()]
            while self._punct(","):
                items.append(self._literal())
            if not self._punct(")"):
                raise SoqlError("expecting ')'")
            return ("cmp", name, "not in" if negated else "in", items)
        if negated:
            raise SoqlError("expecting 'IN'")
        kind, op = self._next()
        if kind != "op":
            raise SoqlError(f"unexpected token: '{op}'")
        return ("cmp", name, "!=" if op == "<>" else op, self._literal())

    def _literal(self) -> Literal:
        kind, text = self._next()
        if kind == "string":
            raw = text[1:-1]
            return Literal(raw, re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1),
                                                                         m.group(1)), raw))
        if kind == "number":
            return Literal(text, float(text) if "." in text else int(text))
        if kind == "word" and text.lower() in ("null", "true", "false"):
            return Literal(text, {"null": None, "true": True, "false": False}[text.lower()])
        raise SoqlError(f"unexpected token: '{text}'")


def soql_quote(text: str) -> str:
    """Percent-encoding for a `q=` parameter (tests build queries by hand with it)."""
    return quote(text, safe="")


if __name__ == "__main__":
    serve("Salesforce", SalesforceEmulator)
