"""Target profile models: how one CRM product speaks.

A profile is data (YAML) validated by these models; every model forbids unknown keys so a
misspelt key is an error with a position. The API driver reads a profile to map crmqa's
canonical operations (`lead.create`, `lead.search`, ...) onto the product's HTTP API, and
to map the product's answers back to canonical records and outcomes.

See docs/profiles.md for the format with examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from crmqa.core.errors import PlanIssue
from crmqa.plan.models import ENTITIES, OPERATIONS, CanonicalOutcome
from crmqa.plan.yaml_source import PositionMap
from crmqa.profiles.screens import ScreenMap


def _reject_unknown(names: Iterable[str], known: Sequence[str], one: str, many: str) -> None:
    """Profiles name canonical entities and operations; anything else is a typo."""
    unknown = [name for name in names if name not in known]
    if unknown:
        noun = one if len(unknown) == 1 else many
        raise ValueError(f"unknown {noun} {', '.join(unknown)}; known: {', '.join(known)}")

class NoEquivalent(Exception):
    """The target has no equivalent for what a step asks (a canonical value mapped to null).

    The engine reports the case as not applicable with this message: the product cannot be
    asked the question, which says nothing about whether it answers it well.
    """


class ProfileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- auth


class NoAuth(ProfileModel):
    """The API needs no credentials."""

    scheme: Literal["none"]


class BasicAuth(ProfileModel):
    """HTTP Basic with the identity's username and password."""

    scheme: Literal["basic"]


class BearerAuth(ProfileModel):
    """A ready-made token from the identity's `token_env`, sent in a header."""

    scheme: Literal["bearer"]
    header: str = "Authorization"
    prefix: str = "Bearer "


class ApiKeyAuth(ProfileModel):
    """An API key from the identity's `api_key_env`, sent in a header or a query parameter."""

    scheme: Literal["api_key"]
    location: Literal["header", "query"] = "header"
    name: str = Field("X-API-Key", description="header or query parameter name")
    prefix: str = ""


class TokenUse(ProfileModel):
    """How a token obtained from an endpoint is sent on later calls."""

    header: str = "Authorization"
    prefix: str = "Bearer "
    query_param: str | None = Field(None, description="send as this query parameter instead")


class OAuth2PasswordAuth(ProfileModel):
    """OAuth2 resource-owner password grant (form body, RFC 6749 section 4.3)."""

    scheme: Literal["oauth2_password"]
    token_url: str = Field(description="path relative to the base URL, or a full URL")
    scope: str | None = None
    client_auth: Literal["body", "basic", "none"] = Field(
        "body", description="how the client id and secret (if any) are sent"
    )
    token_path: str = "access_token"
    expires_path: str | None = "expires_in"
    use: TokenUse = Field(default_factory=TokenUse)


class OAuth2ClientCredentialsAuth(ProfileModel):
    """OAuth2 client-credentials grant (RFC 6749 section 4.4)."""

    scheme: Literal["oauth2_client_credentials"]
    token_url: str
    scope: str | None = None
    client_auth: Literal["body", "basic"] = "basic"
    token_path: str = "access_token"
    expires_path: str | None = "expires_in"
    use: TokenUse = Field(default_factory=TokenUse)


class TokenEndpointAuth(ProfileModel):
    """A product-specific login endpoint answering a token.

    `body` maps the product's body keys to credential placeholders: `{username}`,
    `{password}`, `{api_key}`, `{client_id}`, `{client_secret}` (or constant text).
    """

    scheme: Literal["token_endpoint"]
    path: str
    method: Literal["POST", "PUT", "GET"] = "POST"
    format: Literal["json", "form"] = "json"
    body: dict[str, str] = Field(
        default_factory=lambda: {"username": "{username}", "password": "{password}"}
    )
    token_path: str = Field("access_token", description="JMESPath of the token in the answer")
    expires_path: str | None = None
    use: TokenUse = Field(default_factory=TokenUse)


class FormLoginAuth(ProfileModel):
    """A login form that sets a session cookie (server-rendered CRMs).

    When `csrf_field` is set, the login page is fetched first and the hidden input's value is
    sent back; `csrf_cookie` + `csrf_header` echo a CSRF cookie as a header on later writes
    (Django's csrftoken / X-CSRFToken).
    """

    scheme: Literal["form_login"]
    login_path: str = "/login"
    username_field: str = "username"
    password_field: str = "password"
    extra_fields: dict[str, str] = Field(default_factory=dict)
    csrf_field: str | None = None
    csrf_cookie: str | None = None
    csrf_header: str | None = None
    session_cookie: str | None = Field(
        None, description="cookie that proves the login worked; any cookie when unset"
    )


AuthSpec = Annotated[
    NoAuth
    | BasicAuth
    | BearerAuth
    | ApiKeyAuth
    | OAuth2PasswordAuth
    | OAuth2ClientCredentialsAuth
    | TokenEndpointAuth
    | FormLoginAuth,
    Field(discriminator="scheme"),
]


# --------------------------------------------------------------------------- lists


class Pagination(ProfileModel):
    """How a list answer is paged.

    page:      ?page=N&page_size=S        (first_page, usually 1)
    offset:    ?offset=O&limit=S
    cursor:    ?cursor=C&limit=S, next cursor at `next_cursor_path` in the answer
    next_link: the answer holds the next page's URL at `next_link_path` (or a Link header)
    """

    style: Literal["page", "offset", "cursor", "next_link", "none"] = "page"
    page_param: str = "page"
    size_param: str | None = "page_size"
    first_page: int = 1
    offset_param: str = "offset"
    cursor_param: str = "cursor"
    next_cursor_path: str | None = None
    next_link_path: str | None = Field(
        None, description="JMESPath of the next page URL; unset: the Link header rel=next"
    )
    max_pages: int = Field(100, ge=1, description="bound when walking pages (`all: true`)")
    default_size: int | None = Field(
        None, ge=1, description="offset style: the page size the product uses when none is "
        "sent, so page N can be asked for without a page_size"
    )


class SortSpec(ProfileModel):
    """How a canonical sort (`last_name`, `-created_at`) is written.

    prefix:   sort=-created_at (descending_prefix)
    suffix:   sort=created_at:desc  (separator + ascending/descending words)
    separate: order_by=created_at&direction=desc
    """

    param: str = "sort"
    style: Literal["prefix", "suffix", "separate"] = "prefix"
    descending_prefix: str = "-"
    separator: str = ":"
    direction_param: str = "direction"
    ascending: str = "asc"
    descending: str = "desc"


class ListSpec(ProfileModel):
    """Where list/search answers keep records and totals, and how to ask for pages."""

    path: str | None = Field(None, description="list path; default the entity collection")
    search_path: str | None = Field(None, description="search path; default the list path")
    items_path: str | None = Field(
        "items", description="JMESPath of the records; null when the answer is the list itself"
    )
    total_path: str | None = "total"
    pagination: Pagination = Field(default_factory=Pagination)
    search_param: str = "q"
    filters: dict[str, str] = Field(
        default_factory=dict, description="canonical filter -> query parameter"
    )
    sort: SortSpec | None = Field(default_factory=SortSpec)


# --------------------------------------------------------------------------- operations


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

DEFAULT_METHODS: dict[str, str] = {
    "create": "POST",
    "get": "GET",
    "update": "PATCH",
    "delete": "DELETE",
    "list": "GET",
    "search": "GET",
    "import": "POST",
    "export": "GET",
    "convert": "POST",
}


class OperationSpec(ProfileModel):
    """Overrides for one canonical operation; every key has a default from the entity."""

    method: HttpMethod | None = None
    path: str | None = Field(None, description="may use {id}; default collection or item path")
    success: list[int] | None = Field(None, description="statuses meaning ok; default any 2xx")
    body_wrapper: str | None = Field(
        None, description="send the record inside this key ({'lead': {...}})"
    )
    record_path: str | None = Field(
        None, description="JMESPath of the record in this operation's answer; default the "
        "entity's record_path"
    )
    read_back: bool = Field(
        False, description="create/update: the answer lacks the record, so after a success "
        "GET the item (id from `id_path`, or the step's id for update) and use that record"
    )
    id_path: str | None = Field(
        None, description="create: JMESPath of the new id in the answer; default the record's "
        "id field"
    )


class ImportSpec(ProfileModel):
    """How CSV import works.

    one_step:  POST `path` multipart -> result
    two_step:  POST `path` multipart -> preview with a token at `preview_token_path`,
               then `commit_method` `commit_path` (may use {token}) -> result
    """

    path: str | None = Field(None, description="default <collection>/import")
    file_field: str = "file"
    mode: Literal["one_step", "two_step"] = "one_step"
    preview_token_path: str | None = None
    commit_path: str | None = None
    commit_method: HttpMethod = "POST"
    commit_token_field: str | None = Field(
        None, description="JSON body key for the token on commit; unset: only in the path"
    )
    imported_path: str | None = "imported"
    ids_path: str | None = "ids"
    rejected_path: str | None = "rejected"
    rejected_row_key: str = "row"
    rejected_errors_key: str = "errors"
    rejected_shape: Literal["nested", "flat"] = Field(
        "nested", description="nested: [{row, errors: {field: [msg]}}]; flat: one entry per "
        "error, [{row, field, message}] (grouped by row)"
    )
    rejected_field_key: str = Field("field", description="flat rows: the field's key")
    rejected_message_key: str = Field("message", description="flat rows: the message's key")
    row_base: int = Field(
        2, description="the number the product gives the first data row; canonical rows "
        "count the header as row 1, so the first data row is 2"
    )
    all_or_nothing: bool = Field(
        False, description="the product refuses the whole file when a row is bad: a failure "
        "answer with rows at `rejected_path` is reported as outcome ok, imported 0"
    )
    columns: list[str] | None = Field(
        None, description="canonical columns in file order, for `rows:`; default the field map"
    )
    success: list[int] | None = None


class ExportSpec(ProfileModel):
    """How an export is fetched and its columns read back."""

    path: str | None = Field(None, description="default <collection>/export")
    format: Literal["csv", "json"] = "csv"
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> CSV header (a display label); "
        "unset: the entity's field map"
    )
    values: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="canonical field -> {canonical value: exported "
        "value}, for exports that write display labels (`In Process`)"
    )
    items_path: str | None = Field(None, description="json exports: JMESPath of the records")
    success: list[int] | None = None


class ConvertSpec(ProfileModel):
    """How a lead is converted; `body` for products that convert by an update."""

    path: str | None = Field(None, description="default <item>/convert")
    method: HttpMethod = "POST"
    body: dict[str, Any] | None = Field(
        None, description="a fixed body to send (e.g. {status: converted}); the step's `data` "
        "is merged over it"
    )
    results: dict[str, str] = Field(
        default_factory=lambda: {
            "contact_id": "contact_id",
            "account_id": "account_id",
            "opportunity_id": "opportunity_id",
        },
        description="canonical key -> JMESPath in the answer",
    )
    success: list[int] | None = None


class EntitySpec(ProfileModel):
    """One canonical entity as the product exposes it."""

    collection: str = Field(description="collection path, e.g. /api/leads")
    item: str | None = Field(None, description="item path with {id}; default <collection>/{id}")
    id_field: str = "id"
    record_path: str | None = Field(
        None, description="JMESPath where a single record sits in answers (e.g. lead_obj)"
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="canonical field -> product field (dots for nesting); unmapped pass through",
    )
    values: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="canonical field -> {canonical value: product value} (e.g. status names);"
        " a value mapped to null has no equivalent in the product: a step using it makes the "
        "case not applicable",
    )
    operations: dict[str, OperationSpec] = Field(
        default_factory=dict, description="the operations the product supports, with overrides"
    )
    list_: ListSpec = Field(default_factory=ListSpec, alias="list")
    import_: ImportSpec | None = Field(None, alias="import")
    export: ExportSpec | None = None
    convert: ConvertSpec | None = None

    @field_validator("operations", mode="before")
    @classmethod
    def _list_of_names(cls, value: Any) -> Any:
        # `operations: [create, get]` is the short form of a map with no overrides.
        if isinstance(value, list):
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {name: ({} if spec is None else spec) for name, spec in value.items()}
        return value

    @field_validator("operations")
    @classmethod
    def _known_operations(cls, value: dict[str, OperationSpec]) -> dict[str, OperationSpec]:
        _reject_unknown(value, OPERATIONS, "operation", "operations")
        return value

    @model_validator(mode="after")
    def _op_details(self) -> EntitySpec:
        # Declaring `import:` / `export:` / `convert:` details implies the operation.
        for name, detail in (("import", self.import_), ("export", self.export),
                             ("convert", self.convert)):
            if detail is not None and name not in self.operations:
                self.operations[name] = OperationSpec()
        return self

    # Derived lookups, computed once: mapping runs on every call.
    @cached_property
    def item_path(self) -> str:
        return self.item or self.collection.rstrip("/") + "/{id}"

    @cached_property
    def reverse_fields(self) -> dict[str, str]:
        """product field -> canonical field."""
        return {product: canonical for canonical, product in self.fields.items()}

    @cached_property
    def reverse_values(self) -> dict[str, dict[Any, Any]]:
        """canonical field -> {product value: canonical value}."""
        return {
            field: {_hashable(product): canonical for canonical, product in mapping.items()
                    if product is not None}
            for field, mapping in self.values.items()
        }

    def product_field(self, canonical: str) -> str:
        return self.fields.get(canonical, canonical)

    def operation(self, name: str) -> OperationSpec:
        return self.operations.get(name) or OperationSpec()

    def method_of(self, name: str) -> str:
        return self.operation(name).method or DEFAULT_METHODS[name]


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


# --------------------------------------------------------------------------- errors


class ErrorShape(ProfileModel):
    """Where an error answer keeps its field errors and message.

    dict: {"email": ["not valid"]} (or a single string per field)
    list: [{"field": "email", "message": "not valid"}]
    """

    field_errors_path: str | None = Field("errors", description="JMESPath; null: none")
    shape: Literal["dict", "list"] = "dict"
    field_key: str = "field"
    message_key: str = "message"
    message_path: str | None = "detail"


class OutcomeRule(ProfileModel):
    """One status -> outcome rule that may also look at the request and the answer.

    Rules are tried in order before the `outcomes` map; the first that matches decides.
    `anonymous: true` matches only requests sent without credentials (`false`: only with);
    `body_path` + `matches` match a regular expression against the answer's value there
    (`matches` alone: against the whole body as text).
    """

    status: int | list[int]
    outcome: CanonicalOutcome
    anonymous: bool | None = None
    body_path: str | None = Field(None, description="JMESPath into the JSON answer")
    matches: str | None = Field(None, description="regular expression (search, not full match)")

    @field_validator("body_path")
    @classmethod
    def _valid_path(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                jmespath.compile(value)
            except JMESPathError as exc:
                raise ValueError(f"not a JMESPath expression: {exc}") from None
        return value

    @field_validator("matches")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def applies(self, status: int, body: Any, anonymous: bool) -> bool:
        """True when the rule matches this answer."""
        statuses = self.status if isinstance(self.status, list) else [self.status]
        if status not in statuses:
            return False
        if self.anonymous is not None and self.anonymous != anonymous:
            return False
        if self.body_path is None and self.matches is None:
            return True
        if self.body_path is None:
            value = body
        elif isinstance(body, dict | list):
            value = jmespath.search(self.body_path, body)
        else:
            value = None
        if value is None:
            return False
        if self.matches is None:
            return True
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return re.search(self.matches, text) is not None


DEFAULT_OUTCOMES: dict[int, CanonicalOutcome] = {
    400: CanonicalOutcome.REJECTED,
    401: CanonicalOutcome.UNAUTHORIZED,
    403: CanonicalOutcome.FORBIDDEN,
    404: CanonicalOutcome.NOT_FOUND,
    409: CanonicalOutcome.CONFLICT,
    422: CanonicalOutcome.REJECTED,
}


# --------------------------------------------------------------------------- profile


class Profile(ProfileModel):
    """How one CRM product speaks. Loaded from YAML; see docs/profiles.md."""

    schema_ref: str | None = Field(None, alias="$schema")
    name: str
    product: str = ""
    description: str | None = None
    auth: AuthSpec = Field(default_factory=lambda: NoAuth(scheme="none"))
    entities: dict[str, EntitySpec] = Field(default_factory=dict)
    errors: ErrorShape = Field(default_factory=ErrorShape)
    outcomes: dict[int, CanonicalOutcome] = Field(
        default_factory=dict, description="HTTP status -> canonical outcome, over the defaults"
    )
    outcome_rules: list[OutcomeRule] = Field(
        default_factory=list, description="rules tried before `outcomes` (request, body)"
    )
    health_path: str | None = Field(None, description="a cheap GET that proves the CRM is up")
    adapter: str | None = Field(
        None, description="'package.module:Class' for products a declarative profile can't describe"
    )
    adapter_capabilities: list[str] = Field(
        default_factory=list, description="capabilities the adapter adds (e.g. lead.create)"
    )
    # The UI driver's screen maps (crmqa/profiles/screens.py): screen -> url and elements.
    screens: ScreenMap = Field(default_factory=lambda: ScreenMap({}))

    # Where the profile was read from (None for one made in code): an adapter module next to
    # it is found from here, and messages about the profile point into it.
    _source: Path | None = PrivateAttr(default=None)
    _positions: PositionMap | None = PrivateAttr(default=None)

    def located(self, source: Path, positions: PositionMap) -> Profile:
        """This profile, remembering the file it was read from and where each key sits."""
        self._source = source
        self._positions = positions
        return self

    @property
    def source_path(self) -> Path | None:
        return self._source

    def issue(self, message: str, path: tuple[str | int, ...] = (), *,
              suggestion: str | None = None) -> PlanIssue:
        """A problem with this profile, positioned at `path` when the file is known."""
        if self._positions is None:
            return PlanIssue(f"profile {self.name!r}: {message}", suggestion=suggestion)
        return self._positions.issue(message, path, at_key=bool(path), suggestion=suggestion)

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: dict[str, EntitySpec]) -> dict[str, EntitySpec]:
        _reject_unknown(value, ENTITIES, "entity", "entities")
        return value

    @field_validator("adapter")
    @classmethod
    def _adapter_ref(cls, value: str | None) -> str | None:
        if value is not None and (":" not in value or value.startswith(":")
                                  or value.endswith(":")):
            raise ValueError("adapter must look like 'package.module:ClassName'")
        return value

    @cached_property
    def capabilities(self) -> frozenset[str]:
        """Everything this profile can do: `lead`, `lead.create`, `screen:lead_list`, `api`."""
        caps: set[str] = set()
        for entity, spec in self.entities.items():
            caps.add(entity)
            caps.update(f"{entity}.{op}" for op in spec.operations)
        if self.entities or self.adapter:
            caps.add("api")
        caps.update(self.adapter_capabilities)
        caps.update(f"{cap.split('.')[0]}" for cap in self.adapter_capabilities if "." in cap)
        if self.screens:
            caps.add("ui")
            caps.update(f"screen:{name}" for name in self.screens)
            # Elements too (`screen:lead_list.search`): a product's screen may lack one.
            caps.update(f"screen:{name}.{element}" for name in self.screens
                        for element in self.screens.elements_of(name))
        caps.add(f"auth:{self.auth.scheme}")
        return frozenset(caps)

    def supports(self, capability: str) -> bool:
        """True when the profile declares the capability (`lead.import`, `screen:lead_list`)."""
        return capability in self.capabilities

    def entity(self, name: str) -> EntitySpec | None:
        return self.entities.get(name)

    @cached_property
    def outcome_map(self) -> dict[int, CanonicalOutcome]:
        return {**DEFAULT_OUTCOMES, **self.outcomes}

    def outcome_for(self, status: int, success: list[int] | None = None, *, body: Any = None,
                    anonymous: bool = False) -> CanonicalOutcome:
        """The canonical outcome of an answer; `success` narrows what counts as ok.

        `body` (the decoded answer) and `anonymous` (sent without credentials) feed the
        profile's `outcome_rules`.
        """
        if success is not None and status in success:
            return CanonicalOutcome.OK
        for rule in self.outcome_rules:
            if rule.applies(status, body, anonymous):
                return rule.outcome
        mapped = self.outcomes.get(status)
        if mapped is not None:
            return mapped
        if 200 <= status < 300:
            return CanonicalOutcome.OK if success is None else CanonicalOutcome.ERROR
        return DEFAULT_OUTCOMES.get(status, CanonicalOutcome.ERROR)
