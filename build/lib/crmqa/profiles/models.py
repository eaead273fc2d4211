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
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from crmqa.core.errors import PlanIssue
from crmqa.plan.models import ENTITIES, OPERATIONS, CanonicalOutcome
from crmqa.plan.paths import path_error
from crmqa.plan.yaml_source import PositionMap
from crmqa.profiles.capabilities import FIELD_PREFIX, capability_problem, reason_for
from crmqa.profiles.screens import ScreenMap


def _reject_unknown(names: Iterable[str], known: Sequence[str], one: str, many: str) -> None:
    """Profiles name canonical entities and operations; anything else is a typo."""
    unknown = [name for name in names if name not in known]
    if unknown:
        noun = one if len(unknown) == 1 else many
        raise ValueError(f"unknown {noun} {', '.join(unknown)}; known: {', '.join(known)}")

def _valid_path(value: str) -> str:
    problem = path_error(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _valid_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


# A path into an answer (JMESPath, or JSONPath from `$`), refused at load when it does not parse.
ResultPath = Annotated[str, AfterValidator(_valid_path)]
# A regular expression, refused at load when it does not compile.
Pattern = Annotated[str, AfterValidator(_valid_regex)]
# A value that may hold templates (`{{ env.TENANT }}`); see crmqa/profiles/templates.py.
Templated = Any


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


class _TokenAnswer(ProfileModel):
    """Where a login answer keeps the token (and a base URL), and how the token is sent."""

    token_path: ResultPath = Field("access_token",
                                   description="JMESPath of the token in the answer")
    expires_path: ResultPath | None = "expires_in"
    base_url_path: ResultPath | None = Field(
        None, description="JMESPath of a base URL in the token answer (an `instance_url`): "
        "once logged in, this identity's calls go there instead of the target's base_url"
    )
    use: TokenUse = Field(default_factory=TokenUse)


class _OAuth2Grant(_TokenAnswer):
    """What both OAuth2 grants share: the token endpoint and the scope asked for."""

    token_url: str = Field(description="path relative to the base URL, or a full URL; may "
                           "use templates ({{ env.TENANT_ID }})")
    scope: str | None = Field(None, description="may use templates "
                              "({{ target.base_url }}/.default)")


class OAuth2PasswordAuth(_OAuth2Grant):
    """OAuth2 resource-owner password grant (form body, RFC 6749 section 4.3)."""

    scheme: Literal["oauth2_password"]
    client_auth: Literal["body", "basic", "none"] = Field(
        "body", description="how the client id and secret (if any) are sent"
    )


class OAuth2ClientCredentialsAuth(_OAuth2Grant):
    """OAuth2 client-credentials grant (RFC 6749 section 4.4)."""

    scheme: Literal["oauth2_client_credentials"]
    client_auth: Literal["body", "basic"] = "basic"


class TokenEndpointAuth(_TokenAnswer):
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
    expires_path: ResultPath | None = None


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
    next_cursor_path: ResultPath | None = Field(
        None, description="cursor style: JMESPath of the next page's cursor (an `after` "
        "token) in the answer; none or empty: the last page"
    )
    next_link_path: ResultPath | None = Field(
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
    template: param = the rendered `template` (`$orderby=lastname desc`)
    """

    param: str = "sort"
    style: Literal["prefix", "suffix", "separate", "template"] = "prefix"
    descending_prefix: str = "-"
    separator: str = ":"
    direction_param: str = "direction"
    ascending: str = "asc"
    descending: str = "desc"
    template: str | None = Field(
        None, description="template style: the parameter's value; may use field (the "
        "product's sort key), descending (true/false), direction (the ascending or "
        "descending word) and canonical (the canonical field)"
    )
    fields: dict[str, str | None] = Field(
        default_factory=dict, description="canonical field -> the product's sort key, where "
        "it differs from the field map; null: the product cannot sort by it (a sorting step "
        "is not applicable)"
    )

    @model_validator(mode="after")
    def _template_given(self) -> SortSpec:
        if self.style == "template" and not self.template:
            raise ValueError("style 'template' needs `template` (e.g. \"{{ field }} "
                             "{{ direction }}\")")
        return self


# The names a list or search request template may use (besides env, target, identity...).
LIST_NAMES: tuple[str, ...] = (
    "query", "filters", "filter_clauses", "sort", "page", "page_size", "offset", "limit",
    "cursor", "fields",
)
# The names one filter clause template may use.
FILTER_NAMES: tuple[str, ...] = ("field", "value", "name")


class ListRequest(ProfileModel):
    """A list or search request written out as a template, for products whose queries are
    not plain parameters: a JSON filter in a parameter, a query language (SOQL, OData
    `$filter`), a search body. When it is given, crmqa sends exactly what it says and adds
    no parameters of its own; the pagination style still says how to walk pages."""

    method: HttpMethod = "GET"
    path: str | None = Field(None, description="default the list (or search) path")
    params: dict[str, Templated] = Field(
        default_factory=dict, description="query parameters; a value rendering to null or "
        "empty text is left out"
    )
    headers: dict[str, Templated] = Field(default_factory=dict)
    body: Templated = Field(None, description="a JSON body (POST searches); null keys are "
                            "left out")
    filter: Templated = Field(
        None, description="one filter clause, rendered per filter into `filter_clauses`; may "
        "use field (the product's name), value (the product's value) and name (canonical)"
    )


class CountRequest(ListRequest):
    """A request that answers how many records a list or search matches (a SOQL
    `SELECT COUNT()`, a `/count` resource). Its templates see what the list request's see;
    without a `filter` of its own, `filter_clauses` are rendered with the list's."""

    total_path: ResultPath = Field(description="JMESPath of the count in its answer")


class ListSpec(ProfileModel):
    """Where list/search answers keep records and totals, and how to ask for pages."""

    path: str | None = Field(None, description="list path; default the entity collection")
    search_path: str | None = Field(None, description="search path; default the list path")
    items_path: ResultPath | None = Field(
        "items", description="JMESPath of the records; null when the answer is the list itself"
    )
    total_path: ResultPath | None = Field(
        "total", description="JMESPath of the total count beside the records; null: none"
    )
    total_header: str | None = Field(
        None, description="a response header holding the total (e.g. Content-Range), read "
        "with `total_pattern`; used when `total_path` finds nothing"
    )
    total_pattern: Pattern | None = Field(
        None, description="regular expression finding the total in `total_header`: the group "
        "named `total`, else the first group, else the whole match (default: the last number)"
    )
    pagination: Pagination = Field(default_factory=Pagination)
    search_param: str = "q"
    filters: dict[str, str | None] = Field(
        default_factory=dict, description="canonical filter -> query parameter (or the "
        "product's field name in a request template); null: the product cannot filter by it"
    )
    sort: SortSpec | None = Field(default_factory=SortSpec)
    request: ListRequest | None = Field(
        None, description="the list request as a template (see ListRequest)"
    )
    search_request: ListRequest | None = Field(
        None, description="the search request as a template; default `request`"
    )

    count_request: CountRequest | None = Field(
        None, description="a request of its own that counts the records a list or search "
        "matches, for products whose list answers carry no total (a `SELECT COUNT()` query); "
        "sent once per step when the pages gave no total"
    )

    def request_for(self, operation: str) -> ListRequest | None:
        """The request template of `list` or `search`, if the profile writes one."""
        if operation == "search":
            return self.search_request or self.request
        return self.request


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


# The names an operation's headers, params and body defaults may use (besides env...).
OPERATION_NAMES: tuple[str, ...] = ("id", "data")
# The names a call of a multi-call operation may use.
CALL_NAMES: tuple[str, ...] = ("id", "data", "record", "saved", "answers")


class CallSpec(ProfileModel):
    """One call of an operation that takes several (cancel, then delete).

    Calls are sent in order; a call whose answer is not a success stops the operation, and
    that answer decides its outcome. The last call's answer is the operation's answer.
    """

    method: HttpMethod
    path: str = Field(description="may use {id} and templates ({{ saved.token }})")
    params: dict[str, Templated] = Field(default_factory=dict)
    headers: dict[str, Templated] = Field(default_factory=dict)
    body: Templated = Field(
        None, description="a JSON body; \"{{ record }}\" is the step's data in the product's "
        "fields, `data` the canonical data, `saved` what earlier calls saved"
    )
    success: list[int] | None = Field(None, description="statuses meaning ok; default any 2xx")
    save: dict[str, ResultPath] = Field(
        default_factory=dict, description="name -> JMESPath into this call's answer, for "
        "later calls (`{{ saved.name }}`); saving `id` on a create names the new record"
    )


class OperationSpec(ProfileModel):
    """Overrides for one canonical operation; every key has a default from the entity."""

    method: HttpMethod | None = None
    path: str | None = Field(None, description="may use {id}; default collection or item path")
    success: list[int] | None = Field(None, description="statuses meaning ok; default any 2xx")
    body_wrapper: str | None = Field(
        None, description="send the record inside this key ({'lead': {...}})"
    )
    record_path: ResultPath | None = Field(
        None, description="JMESPath of the record in this operation's answer; default the "
        "entity's record_path"
    )
    read_back: bool = Field(
        False, description="create/update: the answer lacks the record, so after a success "
        "GET the item (id from `id_path`, or the step's id for update) and use that record"
    )
    id_path: ResultPath | None = Field(
        None, description="create: JMESPath of the new id in the answer; default the record's "
        "id field"
    )
    id_header: str | None = Field(
        None, description="create: a response header holding the new id or its URL "
        "(Location, OData-EntityId), read with `id_pattern`"
    )
    id_pattern: Pattern | None = Field(
        None, description="regular expression finding the id in `id_header`: the group named "
        "`id`, else the first group (default: the last path segment, or what is in brackets)"
    )
    headers: dict[str, Templated] = Field(
        default_factory=dict, description="headers this operation's requests add; templates "
        "may use id and data besides env, target, identity, uuid() and now()"
    )
    params: dict[str, Templated] = Field(
        default_factory=dict, description="query parameters this operation's requests add"
    )
    body_defaults: dict[str, Templated] = Field(
        default_factory=dict, description="product fields merged under the body sent (what "
        "the step gives wins; mappings merge key by key)"
    )
    calls: list[CallSpec] = Field(
        default_factory=list, description="the operation takes several calls, sent in order "
        "instead of the single request (see CallSpec)"
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
    preview_token_path: ResultPath | None = None
    commit_path: str | None = None
    commit_method: HttpMethod = "POST"
    commit_token_field: str | None = Field(
        None, description="JSON body key for the token on commit; unset: only in the path"
    )
    imported_path: ResultPath | None = "imported"
    ids_path: ResultPath | None = "ids"
    rejected_path: ResultPath | None = "rejected"
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
    items_path: ResultPath | None = Field(None,
                                          description="json exports: JMESPath of the records")
    success: list[int] | None = None


class ConvertSpec(ProfileModel):
    """How a lead is converted; `body` for products that convert by an update."""

    path: str | None = Field(None, description="default <item>/convert")
    method: HttpMethod = "POST"
    body: dict[str, Any] | None = Field(
        None, description="a fixed body to send (e.g. {status: converted}); the step's `data` "
        "is merged over it"
    )
    results: dict[str, ResultPath] = Field(
        default_factory=lambda: {
            "contact_id": "contact_id",
            "account_id": "account_id",
            "opportunity_id": "opportunity_id",
        },
        description="canonical key -> JMESPath in the answer",
    )
    success: list[int] | None = None


# The names a composite field's read templates may use.
COMPOSITE_READ_NAMES: tuple[str, ...] = ("value", "record")


class CompositeField(ProfileModel):
    """One product field built from canonical fields, and split back when read.

    `name: {from: [first_name, last_name], write: "{{ first_name }} {{ last_name }}",
    split: "^(?P<first_name>\\S*) ?(?P<last_name>.*)$"}`. With one `from` field it is a
    derived field (a value written and read in another form).
    """

    from_: list[str] = Field(alias="from", min_length=1,
                             description="the canonical fields it is built from")
    write: str = Field(description="template over the `from` fields (missing ones are empty)")
    split: Pattern | None = Field(
        None, description="regular expression on the product value whose named groups are "
        "the `from` fields, to read them back"
    )
    read: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> template reading it back from "
        "`value` (the product field's value) or `record` (the product record)"
    )


class RelatedSpec(ProfileModel):
    """A record of its own that holds some of a canonical record's fields (a person or party
    record the lead references). It is created before the record, referenced from it, read
    with it, updated with it and deleted after it."""

    collection: str = Field(description="its collection path, e.g. /api/people")
    item: str | None = Field(None, description="its item path with {id}; default "
                             "<collection>/{id}")
    id_field: str = "id"
    record_path: ResultPath | None = Field(
        None, description="JMESPath of its record in its answers")
    reference: str = Field(description="the main record's product field holding its id "
                           "(dots for nesting)")
    fields: dict[str, str] = Field(
        description="canonical field of the main entity -> its product field on this record")
    embedded: ResultPath | None = Field(
        None, description="where the main record's answers embed it (JMESPath); unset: it is "
        "read with a GET of its own")
    delete_with_record: bool = Field(True, description="delete it after the main record")
    operations: dict[str, OperationSpec] = Field(
        default_factory=dict, description="overrides for create, get, update, delete (method, "
        "path, success, body_wrapper, record_path, id_path, headers, params, body_defaults)")

    @field_validator("operations", mode="before",
                     json_schema_input_type=dict[str, OperationSpec | None])
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: ({} if spec is None else spec) for name, spec in value.items()}
        return value

    @field_validator("operations")
    @classmethod
    def _record_operations(cls, value: dict[str, OperationSpec]) -> dict[str, OperationSpec]:
        _reject_unknown(value, ("create", "get", "update", "delete"), "operation",
                        "operations")
        return value

    @cached_property
    def item_path(self) -> str:
        return self.item or self.collection.rstrip("/") + "/{id}"

    @cached_property
    def reverse_fields(self) -> dict[str, str]:
        return {product: canonical for canonical, product in self.fields.items()}

    def operation(self, name: str) -> OperationSpec:
        return self.operations.get(name) or OperationSpec()

    def method_of(self, name: str) -> str:
        return self.operation(name).method or DEFAULT_METHODS[name]


class EntitySpec(ProfileModel):
    """One canonical entity as the product exposes it."""

    collection: str = Field(description="collection path, e.g. /api/leads")
    item: str | None = Field(None, description="item path with {id}; default <collection>/{id}")
    id_field: str = "id"
    record_path: ResultPath | None = Field(
        None, description="JMESPath where a single record sits in answers (e.g. lead_obj)"
    )
    fields: dict[str, str | None] = Field(
        default_factory=dict,
        description="canonical field -> product field (dots for nesting); null: the product "
        "has no equivalent (a case that needs it is not applicable, and it is never sent); "
        "unmapped fields pass through unless `unmapped_fields: no_equivalent`",
    )
    unmapped_fields: Literal["pass", "no_equivalent"] = Field(
        "pass", description="canonical fields `fields` does not name: pass (sent and read "
        "under their canonical names) or no_equivalent (as if mapped to null)"
    )
    composite: dict[str, CompositeField] = Field(
        default_factory=dict, description="product field -> how it is built from canonical "
        "fields and split back (first_name + last_name -> name)"
    )
    related: dict[str, RelatedSpec] = Field(
        default_factory=dict, description="name -> a related record holding some of the "
        "canonical fields (see RelatedSpec)"
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

    @field_validator("operations", mode="before",
                     json_schema_input_type=list[str] | dict[str, OperationSpec | None])
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
        return {product: canonical for canonical, product in self.fields.items()
                if product is not None}

    @cached_property
    def composite_of(self) -> dict[str, str]:
        """canonical field -> the composite product field it is written into."""
        return {canonical: product for product, spec in self.composite.items()
                for canonical in spec.from_}

    @cached_property
    def related_of(self) -> dict[str, str]:
        """canonical field -> the name of the related record that holds it."""
        return {canonical: name for name, spec in self.related.items()
                for canonical in spec.fields}

    def has_equivalent(self, canonical: str) -> bool:
        """False when the product has no equivalent for a canonical field (mapped to null,
        or unmapped under `unmapped_fields: no_equivalent`)."""
        if canonical == "id" or canonical in self.composite_of or canonical in self.related_of:
            return True
        if canonical in self.fields:
            return self.fields[canonical] is not None
        return self.unmapped_fields == "pass"

    def no_equivalent_reason(self, canonical: str) -> str:
        """Why a canonical field cannot be used, naming the profile key."""
        if canonical in self.fields:
            return f"the product has no equivalent for it (fields.{canonical}: null)"
        return ("the product has no equivalent for it (not in `fields`, and "
                "unmapped_fields: no_equivalent)")

    @cached_property
    def reverse_values(self) -> dict[str, dict[Any, Any]]:
        """canonical field -> {product value: canonical value}."""
        return {
            field: {_hashable(product): canonical for canonical, product in mapping.items()
                    if product is not None}
            for field, mapping in self.values.items()
        }

    def product_field(self, canonical: str) -> str:
        """The product's name for a canonical field (the canonical name when unmapped)."""
        return self.fields.get(canonical) or canonical

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
    list: [{"field": "email", "message": "not valid"}] (the field key may hold a list of
          fields: [{"fields": ["Email"], "message": "..."}])
    message_patterns: field errors found in message text ("A value is required for field X")
    """

    field_errors_path: ResultPath | None = Field("errors", description="JMESPath; null: none")
    shape: Literal["dict", "list"] = "dict"
    field_key: str = "field"
    message_key: str = "message"
    message_path: ResultPath | None = Field(
        "detail", description="JMESPath of the error message (or a list of messages)")
    message_patterns: list[Pattern] = Field(
        default_factory=list, description="regular expressions searched in the messages (at "
        "`message_path`, and the list shape's messages); each match's group `field` names a "
        "field in error, group `message` (else the whole message) says why"
    )
    field_names: dict[str, str] = Field(
        default_factory=dict, description="a field's name as errors give it (a product name "
        "or a label) -> canonical field; the entity's field map is tried after these"
    )

    @field_validator("message_patterns")
    @classmethod
    def _field_group(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if "field" not in re.compile(pattern).groupindex:
                raise ValueError(f"pattern {pattern!r} has no group named `field` "
                                 "(write (?P<field>...) around the field's name)")
        return value


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


class ProbeData(ProfileModel):
    """What `crmqa probe` writes into the throw-away record of one entity (canonical fields;
    templates may use `unique`, a token of this probe). Unset keys have defaults per entity."""

    create: dict[str, Any] | None = Field(None, description="data of the throw-away record")
    update: dict[str, Any] | None = Field(None, description="the change the update makes")
    before_convert: dict[str, Any] | None = Field(
        None, description="an update made before convert (e.g. {status: qualified})")
    search: str | None = Field(None, description="the query that finds the throw-away record "
                               "(default: its most distinctive value)")


class Profile(ProfileModel):
    """How one CRM product speaks. Loaded from YAML; see docs/profiles.md."""

    schema_ref: str | None = Field(None, alias="$schema")
    name: str
    product: str = ""
    description: str | None = None
    auth: AuthSpec = Field(default_factory=lambda: NoAuth(scheme="none"))
    headers: dict[str, Templated] = Field(
        default_factory=dict, description="headers every request needs (a tenant or context "
        "header, an API version); templates may use env, target, identity, uuid() and now()"
    )
    params: dict[str, Templated] = Field(
        default_factory=dict, description="query parameters every request needs "
        "(api-version=7.0)"
    )
    not_applicable: dict[str, str] = Field(
        default_factory=dict, description="capability -> the reason this target cannot offer "
        "it (`ui: the web client is not installed`); cases needing it are not applicable "
        "with that reason"
    )
    probe: dict[str, ProbeData] = Field(
        default_factory=dict, description="entity -> data `crmqa probe` uses for its "
        "throw-away record"
    )
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

    def position_of(self, path: tuple[str | int, ...]) -> str | None:
        """`profiles/acme.yaml:42`: where the key at `path` (or its nearest written parent)
        is in the profile file; None for a profile made in code."""
        if self._positions is None:
            return None
        position = self._positions.key(path)
        return f"{position.file}:{position.line}" if position is not None else None

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

    @field_validator("probe")
    @classmethod
    def _probe_entities(cls, value: dict[str, ProbeData]) -> dict[str, ProbeData]:
        _reject_unknown(value, ENTITIES, "entity", "entities")
        return value

    @field_validator("not_applicable")
    @classmethod
    def _capability_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            problem = capability_problem(name)
            if problem is not None:
                raise ValueError(problem)
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
        return frozenset(cap for cap in caps if reason_for(cap, self.not_applicable) is None)

    def supports(self, capability: str) -> bool:
        """True when the profile declares the capability (`lead.import`, `screen:lead_list`).

        Fields are open: `field:lead.notes` is supported unless the profile says the product
        has no equivalent for it (or declines it in `not_applicable`).
        """
        if capability.startswith(FIELD_PREFIX):
            return self.unsupported_reason(capability) is None
        return capability in self.capabilities

    def unsupported_reason(self, capability: str) -> str | None:
        """Why the target cannot offer `capability`, when the profile says so; else None.

        The profile's own `not_applicable` reason comes first, then a field with no
        equivalent ("the product has no equivalent for it (fields.first_name: null)").
        """
        given = reason_for(capability, self.not_applicable)
        if given is not None:
            return given
        if capability.startswith(FIELD_PREFIX):
            entity_name, _, field = capability[len(FIELD_PREFIX):].partition(".")
            entity = self.entities.get(entity_name)
            if entity is not None and not entity.has_equivalent(field):
                return entity.no_equivalent_reason(field)
        return None

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
