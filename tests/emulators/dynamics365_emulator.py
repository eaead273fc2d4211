"""A local emulator of the Dynamics 365 (Dataverse) Web API, for the `dynamics365` profile.

It answers only what Microsoft documents for the requests the profile sends, in memory
(learn.microsoft.com, "Use the Microsoft Dataverse Web API"):

- Microsoft identity platform, client credentials: `POST /{tenant}/oauth2/v2.0/token` (form:
  grant_type, client_id, client_secret, scope `<environment URL>/.default`) -> `token_type`,
  `expires_in`, `ext_expires_in`, `access_token`; errors `{"error", "error_description"}`
  ("Microsoft identity platform and the OAuth 2.0 client credentials flow"). A real tenant's
  token endpoint is on login.microsoftonline.com; here it is on the emulator's own port.
- `/api/data/v9.2/<entity set>`: create `POST` -> 204 with `OData-EntityId:
  <url>/leads(<guid>)` ("Create a table row using the Web API"); retrieve
  `GET <set>(<guid>)?$select=` -> 200 with `@odata.context` and `@odata.etag`; update
  `PATCH <set>(<guid>)` -> 204, which creates the row when it does not exist unless the
  request says `If-Match: *` ("Update and delete table rows", "Prevent create in upsert");
  `DELETE` -> 204.
- Queries: `$select`, `$filter` (eq, ne, gt, ge, lt, le, and, or, not, parentheses,
  contains/startswith/endswith; text compares ignore letter case as Dataverse's collation
  does), `$orderby`, `$top`, `$count=true` -> `@odata.count` (at most 5,000), and pages of
  `Prefer: odata.maxpagesize=N` with `@odata.nextLink` (a `$skiptoken` paging cookie)
  ("Query data using the Web API", "Page results").
- Errors: `{"error": {"code": "0x...", "message": "..."}}` ("Web service error codes"):
  a row that does not exist 404 0x80040217; a key that is not a GUID, or a query outside
  OData, 400 0x80060888; a text longer than its column 400 0x80044331 ("The length of the
  'firstname' attribute of the 'lead' entity exceeded the maximum allowed length of '50'");
  no or bad token 401 with an empty body and `WWW-Authenticate: Bearer`.

Column requirement levels other than SystemRequired are not enforced by the platform for
API callers, so the tenant's own validation is what its administrator registered: synchronous
plug-ins on Create and Update that throw `InvalidPluginExecutionException`, which the caller
receives as 400 0x80040265 with the plug-in's message ("Handle exceptions in plug-ins").
`Tenant.plugins` holds those checks.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from tests.emulators._server import Reply, Request, serve

API_ROOT = "/api/data/v9.2"
MAX_COUNT = 5000
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "string"  # string, memo, choice, money, date, datetime, lookup, bool
    length: int | None = None
    choices: tuple[int, ...] = ()
    writable: bool = True


@dataclass(frozen=True)
class Table:
    logical: str  # lead
    key: str  # leadid
    columns: tuple[Column, ...]
    binds: dict[str, str] = field(default_factory=dict)  # nav@odata.bind -> _x_value
    required_binds: tuple[str, ...] = ()  # SystemRequired lookups
    required_message: str = ""


def _audit() -> tuple[Column, ...]:
    return (Column("createdon", "datetime", writable=False),
            Column("modifiedon", "datetime", writable=False),
            Column("_ownerid_value", "lookup", writable=False))


TABLES: dict[str, Table] = {
    # Lengths and choices: the tables' column definitions (Dataverse table/entity reference).
    "leads": Table("lead", "leadid", (
        Column("firstname", length=50), Column("lastname", length=50),
        Column("fullname", writable=False), Column("emailaddress1", length=100),
        Column("telephone1", length=50), Column("companyname", length=100),
        Column("jobtitle", length=100), Column("subject", length=300),
        Column("description", "memo", length=2000),
        # Open leads: 1 New, 2 Contacted (Qualified and Disqualified come from actions).
        Column("statuscode", "choice", choices=(1, 2)),
        Column("statecode", "choice", writable=False),
        Column("leadsourcecode", "choice", choices=tuple(range(1, 11))),
        *_audit())),
    "contacts": Table("contact", "contactid", (
        Column("firstname", length=50), Column("lastname", length=50),
        Column("fullname", writable=False), Column("emailaddress1", length=100),
        Column("telephone1", length=50), Column("jobtitle", length=100),
        Column("description", "memo", length=2000),
        Column("_parentcustomerid_value", "lookup", writable=False), *_audit()),
        binds={"parentcustomerid_account@odata.bind": "_parentcustomerid_value"}),
    "accounts": Table("account", "accountid", (
        Column("name", length=160), Column("telephone1", length=50),
        Column("websiteurl", length=200), Column("description", "memo", length=2000),
        *_audit())),
    "opportunities": Table("opportunity", "opportunityid", (
        Column("name", length=300), Column("estimatedvalue", "money"),
        Column("estimatedclosedate", "date"), Column("description", "memo", length=2000),
        Column("salesstage", "choice", choices=(0, 1, 2, 3)),
        Column("_parentaccountid_value", "lookup", writable=False), *_audit()),
        binds={"parentaccountid@odata.bind": "_parentaccountid_value"}),
    "incidents": Table("incident", "incidentid", (
        Column("title", length=200), Column("description", "memo", length=2000),
        Column("prioritycode", "choice", choices=(1, 2, 3)),
        Column("casetypecode", "choice", choices=(1, 2, 3)),
        # Active cases: 1 In Progress, 2 On Hold, 3 Waiting for Details, 4 Researching.
        Column("statuscode", "choice", choices=(1, 2, 3, 4)),
        Column("_customerid_value", "lookup", writable=False), *_audit()),
        binds={"customerid_account@odata.bind": "_customerid_value",
               "customerid_contact@odata.bind": "_customerid_value"},
        required_binds=("_customerid_value",),
        required_message="You should specify a parent contact or account."),
    "systemusers": Table("systemuser", "systemuserid", (
        Column("firstname", length=64), Column("lastname", length=64),
        Column("fullname", writable=False), Column("internalemailaddress", length=100),
        Column("domainname", length=1024), Column("isdisabled", "bool"), *_audit())),
}
READ_ONLY_SETS = frozenset({"systemusers"})


@dataclass(frozen=True)
class PluginCheck:
    """One check of the tenant's validation plug-in on Create and Update of `table`."""

    entity_set: str
    column: str
    message: str
    blank: bool = False  # the column must have a value
    not_matching: str | None = None  # a value must match this regular expression
    unique: bool = False  # no other row may hold the same value (ignoring case)


@dataclass
class Tenant:
    plugins: list[PluginCheck] = field(default_factory=list)
    tenant_id: str = "00000000-0000-0000-0000-0000000000aa"
    client_id: str = "11111111-2222-3333-4444-555555555555"
    client_secret: str = "emulator-secret"


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class Dynamics365Emulator:
    """One Dataverse environment, in memory."""

    def __init__(self, base_url: str, tenant: Tenant | None = None) -> None:
        self.base_url = base_url
        self.tenant = tenant or Tenant()
        self.tokens: dict[str, float] = {}
        self.rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in TABLES}
        self.version = 1000
        self.lock = threading.Lock()
        self.user_id = str(uuid.uuid4())
        self._insert("systemusers", {"firstname": "Api", "lastname": "Application",
                                     "internalemailaddress": "app@example.com",
                                     "domainname": "app@example.com", "isdisabled": False},
                     self.user_id)

    def live_records(self) -> dict[str, int]:
        """How many rows each table holds (for tests: what a run left behind)."""
        return {name: len(rows) for name, rows in self.rows.items()}

    # ------------------------------------------------------------------ routing

    def handle(self, request: Request) -> Reply:
        with self.lock:
            if request.path == f"/{self.tenant.tenant_id}/oauth2/v2.0/token":
                return self._token(request)
            if not request.path.startswith(API_ROOT + "/"):
                return 404, {}, None
            if not self._authorised(request):
                return 401, {"WWW-Authenticate": "Bearer authorization_uri="
                             f"{self.base_url}/{self.tenant.tenant_id}/oauth2/authorize"}, None
            rest = unquote(request.path[len(API_ROOT) + 1:])
            match = re.fullmatch(r"(?P<set>[a-z_]+)(?:\((?P<key>[^)]*)\))?", rest)
            if match is None or match.group("set") not in TABLES:
                return 404, {}, _error("0x80060888", f"Resource not found for the segment "
                                       f"'{rest.split('(')[0]}'.")
            entity_set, key = match.group("set"), match.group("key")
            if key is None:
                if request.method == "GET":
                    return self._query(request, entity_set)
                if request.method == "POST":
                    return self._create(request, entity_set)
                return 405, {}, _error("0x80060888", "The requested method is not allowed.")
            if not _GUID.match(key):
                return 400, {}, _error("0x80060888", "Bad Request - Error in query syntax.")
            return self._row(request, entity_set, key.lower())

    def _authorised(self, request: Request) -> bool:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        expires = self.tokens.get(token)
        return scheme.lower() == "bearer" and expires is not None and expires > time.time()

    def _token(self, request: Request) -> Reply:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return 400, {}, {"error": "unsupported_grant_type",
                             "error_description": "AADSTS70003: The app requested an "
                             "unsupported grant type."}
        if (form.get("client_id") != self.tenant.client_id
                or form.get("client_secret") != self.tenant.client_secret):
            return 401, {}, {"error": "invalid_client",
                             "error_description": "AADSTS7000215: Invalid client secret "
                             "provided."}
        if form.get("scope") != f"{self.base_url}/.default":
            return 400, {}, {"error": "invalid_scope",
                             "error_description": "AADSTS1002012: The provided value for "
                             "scope is not valid."}
        token = f"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{uuid.uuid4().hex}.emulator"
        self.tokens[token] = time.time() + 3599
        return 200, {}, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                         "access_token": token}

    # ------------------------------------------------------------------ rows

    def _row(self, request: Request, entity_set: str, key: str) -> Reply:
        table = TABLES[entity_set]
        row = self.rows[entity_set].get(key)
        if request.method == "GET":
            if row is None:
                return 404, {}, self._missing(table, key)
            select = request.q("$select")
            return 200, {"OData-Version": "4.0"}, {
                "@odata.context": f"{self.base_url}{API_ROOT}/$metadata#{entity_set}"
                                  f"({select or ''})/$entity",
                **self._out(entity_set, row, select)}
        if request.method == "PATCH":
            if entity_set in READ_ONLY_SETS:
                return 403, {}, _error("0x80040220", "Principal user is missing prvWrite "
                                       f"{table.logical} privilege.")
            if row is None:
                if request.header("if-match") == "*":
                    return 404, {}, self._missing(table, key)
                return self._create(request, entity_set, key)  # upsert creates it
            body, refused = self._body(request, entity_set)
            if refused is not None:
                return refused
            changed = {**row, **body}
            problem = self._check(entity_set, changed, key)
            if problem is not None:
                return problem
            changed["modifiedon"] = _now()
            self._derive(entity_set, changed)
            self.version += 1
            changed["versionnumber"] = self.version
            row.clear()
            row.update(changed)
            return 204, {"OData-Version": "4.0"}, None
        if request.method == "DELETE":
            if row is None:
                return 404, {}, self._missing(table, key)
            del self.rows[entity_set][key]
            return 204, {"OData-Version": "4.0"}, None
        return 405, {}, _error("0x80060888", "The requested method is not allowed.")

    def _missing(self, table: Table, key: str) -> dict[str, Any]:
        return _error("0x80040217", f"{table.logical} With Id = {key} Does Not Exist")

    def _body(self, request: Request, entity_set: str
              ) -> tuple[dict[str, Any], Reply | None]:
        table = TABLES[entity_set]
        try:
            body = request.json()
        except ValueError:
            return {}, (400, {}, _error("0x80060888", "The request body is not valid JSON."))
        if not isinstance(body, dict):
            return {}, (400, {}, _error("0x80060888", "A node of type 'PrimitiveValue' was "
                                        "read from the JSON reader when trying to read the "
                                        "start of an entry."))
        columns = {column.name: column for column in table.columns}
        values: dict[str, Any] = {}
        for name, value in body.items():
            if name in table.binds:
                target = re.fullmatch(r"/?([a-z]+)\(([^)]*)\)", str(value or ""))
                if target is None or target.group(1) not in TABLES or (
                        target.group(2).lower() not in self.rows[target.group(1)]):
                    return {}, (400, {}, _error("0x80040217", f"The record referenced by "
                                                f"'{name}' ({value}) does not exist."))
                values[table.binds[name]] = target.group(2).lower()
                continue
            column = columns.get(name)
            if column is None or not column.writable:
                return {}, (400, {}, _error(
                    "0x80060888", f"The property '{name}' does not exist on type "
                    f"'Microsoft.Dynamics.CRM.{table.logical}'. Make sure to only use "
                    "property names that are defined by the type."))
            values[name] = None if value == "" else value
        return values, None

    def _create(self, request: Request, entity_set: str, key: str | None = None) -> Reply:
        if entity_set in READ_ONLY_SETS:
            return 403, {}, _error("0x80040220", "Principal user is missing prvCreate "
                                   f"{TABLES[entity_set].logical} privilege.")
        body, refused = self._body(request, entity_set)
        if refused is not None:
            return refused
        problem = self._check(entity_set, body, None)
        if problem is not None:
            return problem
        new_id = self._insert(entity_set, body, key)
        url = f"{self.base_url}{API_ROOT}/{entity_set}({new_id})"
        headers = {"OData-Version": "4.0", "OData-EntityId": url, "Location": url}
        if "return=representation" in (request.header("prefer") or ""):
            return 201, headers, {"@odata.context": f"{self.base_url}{API_ROOT}/$metadata#"
                                  f"{entity_set}/$entity",
                                  **self._out(entity_set, self.rows[entity_set][new_id], None)}
        return 204, headers, None

    def _insert(self, entity_set: str, values: dict[str, Any], key: str | None = None) -> str:
        table = TABLES[entity_set]
        new_id = key or str(uuid.uuid4())
        row: dict[str, Any] = {column.name: None for column in table.columns}
        row.update(values)
        now = _now()
        if entity_set == "leads":
            row["statecode"] = 0
            row["statuscode"] = row.get("statuscode") or 1
        if entity_set == "incidents":
            row["statuscode"] = row.get("statuscode") or 1
            row["prioritycode"] = row.get("prioritycode") or 2
        row.update({table.key: new_id, "createdon": now, "modifiedon": now,
                    "_ownerid_value": getattr(self, "user_id", None)})
        self.version += 1
        row["versionnumber"] = self.version
        self._derive(entity_set, row)
        self.rows[entity_set][new_id] = row
        return new_id

    def _check(self, entity_set: str, row: dict[str, Any], own_key: str | None
               ) -> Reply | None:
        """The platform's checks, then the tenant's validation plug-in."""
        table = TABLES[entity_set]
        for column in table.columns:
            value = row.get(column.name)
            if value is None or not column.writable:
                continue
            if column.length is not None and isinstance(value, str) and (
                    len(value) > column.length):
                return 400, {}, _error(
                    "0x80044331", "A validation error occurred.  The length of the "
                    f"'{column.name}' attribute of the '{table.logical}' entity exceeded the "
                    f"maximum allowed length of '{column.length}'.")
            if column.kind == "choice" and value not in column.choices:
                return 400, {}, _error(
                    "0x80044331", f"A validation error occurred.  The value {value} of "
                    f"'{column.name}' on record of type '{table.logical}' is outside the "
                    f"valid range. Accepted Values: {','.join(map(str, column.choices))}")
        for lookup in table.required_binds:
            if row.get(lookup) is None:
                return 400, {}, _error("0x80040278", table.required_message)
        for check in self.tenant.plugins:
            if check.entity_set != entity_set:
                continue
            value = row.get(check.column)
            blank = value is None or (isinstance(value, str) and not value.strip())
            if check.blank and blank:
                return 400, {}, _error("0x80040265", check.message)
            if check.not_matching and not blank and re.fullmatch(check.not_matching,
                                                                 str(value)) is None:
                return 400, {}, _error("0x80040265", check.message)
            if check.unique and not blank and any(
                    key != own_key and isinstance(other.get(check.column), str)
                    and other[check.column].casefold() == str(value).casefold()
                    for key, other in self.rows[entity_set].items()):
                return 400, {}, _error("0x80040265", check.message)
        return None

    def _derive(self, entity_set: str, row: dict[str, Any]) -> None:
        if "fullname" in row:
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname"))
                                       if p)

    def _out(self, entity_set: str, row: dict[str, Any], select: str | None) -> dict[str, Any]:
        table = TABLES[entity_set]
        names = [table.key] + [column.name for column in table.columns]
        if select:
            wanted = [name.strip() for name in select.split(",")]
            names = [table.key] + [name for name in wanted if name != table.key]
        out: dict[str, Any] = {"@odata.etag": f'W/"{row.get("versionnumber")}"'}
        out.update({name: row.get(name) for name in names})
        return out

    # ------------------------------------------------------------------ queries

    def _query(self, request: Request, entity_set: str) -> Reply:
        table = TABLES[entity_set]
        known = {table.key, *(column.name for column in table.columns)}
        select = request.q("$select")
        for name in (select.split(",") if select else []):
            if name.strip() not in known:
                return 400, {}, _error("0x80060888", f"Could not find a property named "
                                       f"'{name.strip()}' on type "
                                       f"'Microsoft.Dynamics.CRM.{table.logical}'.")
        try:
            condition = ODataFilter(request.q("$filter") or "", known).parse()
            order = _orderby(request.q("$orderby") or "", known)
        except ODataError as exc:
            return 400, {}, _error("0x80060888", str(exc))
        rows = [row for row in self.rows[entity_set].values()
                if condition is None or _test(condition, row)]
        rows.sort(key=lambda row: row[table.key])
        for name, descending in reversed(order):
            present = [row for row in rows if row.get(name) is not None]
            absent = [row for row in rows if row.get(name) is None]
            present.sort(key=lambda row: _key(row[name]), reverse=descending)
            rows = present + absent if descending else absent + present
        top = request.q("$top")
        if top is not None:
            if not top.isdigit():
                return 400, {}, _error("0x80060888", "Invalid value for $top.")
            rows = rows[:int(top)]
        size = _page_size(request.header("prefer"))
        page = _page_number(request.q("$skiptoken"))
        start = (page - 1) * size if size else 0
        chunk = rows[start:start + size] if size else rows
        answer: dict[str, Any] = {
            "@odata.context": f"{self.base_url}{API_ROOT}/$metadata#{entity_set}"
                              f"({select or ''})"}
        if (request.q("$count") or "").lower() == "true":
            answer["@odata.count"] = min(len(rows), MAX_COUNT)
            if len(rows) > MAX_COUNT:
                answer["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = True
        answer["value"] = [self._out(entity_set, row, select) for row in chunk]
        if size and start + size < len(rows):
            params = {k: v[0] for k, v in request.query.items() if k != "$skiptoken"}
            cookie = (f'<cookie pagenumber="{page + 1}" pagingcookie="" '
                      'istracking="False" />')
            params["$skiptoken"] = cookie
            answer["@odata.nextLink"] = (f"{self.base_url}{API_ROOT}/{entity_set}?"
                                         + urlencode(params, quote_via=quote))
        return 200, {"OData-Version": "4.0",
                     "Preference-Applied": f"odata.maxpagesize={size}" if size else ""}, answer


def _page_size(prefer: str | None) -> int:
    match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", prefer or "")
    return int(match.group(1)) if match else 5000


def _page_number(token: str | None) -> int:
    match = re.search(r'pagenumber="(\d+)"', token or "")
    return int(match.group(1)) if match else 1


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _orderby(text: str, known: set[str]) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        words = part.split()
        if words[0] not in known or len(words) > 2 or (
                len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(f"Could not find a property named '{words[0]}' or the $orderby "
                             "clause is not valid.")
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


# ------------------------------------------------------------------ $filter


class ODataError(ValueError):
    """A $filter outside OData's grammar (or naming an unknown column)."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
)""", re.VERBOSE)
_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
_FUNCTIONS = ("contains", "startswith", "endswith")


class ODataFilter:
    """A recursive-descent parser of the $filter expressions the profile writes."""

    def __init__(self, text: str, known: set[str]) -> None:
        self.known = known
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise ODataError("Syntax error at position "
                                 f"{position} in '{text}'.")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.index = 0

    def parse(self) -> Any:
        if not self.tokens:
            return None
        node = self._or()
        if self.index != len(self.tokens):
            raise ODataError(f"Syntax error: unexpected '{self.tokens[self.index][1]}'.")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ODataError("Syntax error: unexpected end of the $filter.")
        self.index += 1
        return token

    def _word(self, word: str) -> bool:
        if self._peek() == ("word", word):
            self.index += 1
            return True
        return False

    def _or(self) -> Any:
        node = self._and()
        while self._word("or"):
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._word("and"):
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        if self._word("not"):
            return ("not", self._not())
        if self._peek() == ("punct", "("):
            self.index += 1
            node = self._or()
            if self._next() != ("punct", ")"):
                raise ODataError("Syntax error: ')' expected.")
            return node
        kind, name = self._next()
        if kind != "word":
            raise ODataError(f"Syntax error: unexpected '{name}'.")
        if name in _FUNCTIONS:
            if self._next() != ("punct", "("):
                raise ODataError("Syntax error: '(' expected.")
            column = self._column()
            if self._next() != ("punct", ","):
                raise ODataError("Syntax error: ',' expected.")
            literal = self._literal()
            if self._next() != ("punct", ")"):
                raise ODataError("Syntax error: ')' expected.")
            return ("fn", name, column, literal)
        self.index -= 1
        column = self._column()
        kind, op = self._next()
        if kind != "word" or op not in _COMPARISONS:
            raise ODataError(f"Syntax error: unexpected '{op}'.")
        return ("cmp", op, column, self._literal())

    def _column(self) -> str:
        kind, name = self._next()
        if kind != "word" or name not in self.known:
            raise ODataError(f"Could not find a property named '{name}'.")
        return name

    def _literal(self) -> Any:
        kind, text = self._next()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "guid":
            return text.lower()
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "word" and text in ("null", "true", "false"):
            return {"null": None, "true": True, "false": False}[text]
        raise ODataError(f"Syntax error: unexpected '{text}'.")


def _test(node: Any, row: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return _test(node[1], row) and _test(node[2], row)
    if kind == "or":
        return _test(node[1], row) or _test(node[2], row)
    if kind == "not":
        return not _test(node[1], row)
    if kind == "fn":
        _, name, column, literal = node
        value = row.get(column)
        if not isinstance(value, str) or not isinstance(literal, str):
            return False
        text, part = value.casefold(), literal.casefold()
        return {"contains": part in text, "startswith": text.startswith(part),
                "endswith": text.endswith(part)}[name]
    _, op, column, literal = node
    value = row.get(column)
    if op in ("eq", "ne"):
        same = (value.casefold() == literal.casefold()
                if isinstance(value, str) and isinstance(literal, str) else value == literal)
        return same if op == "eq" else not same
    if value is None or literal is None:
        return False
    left, right = _key(value), _key(literal)
    return {"gt": left > right, "ge": left >= right, "lt": left < right,
            "le": left <= right}[op]


if __name__ == "__main__":
    serve("Dynamics 365", Dynamics365Emulator)
