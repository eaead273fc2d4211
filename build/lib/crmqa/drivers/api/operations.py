"""Canonical operations (`lead.create`, `lead.search`, ...) performed through a profile.

Each operation builds the product's request from the profile, sends it through the identity's
`ApiSession`, and reads the answer back into an `OperationResult` in canonical terms. Answers
that should be JSON but are not (an HTML error page from a proxy, a truncated body) are
environment problems, as are gateway errors (502/503/504).

What a profile may add to the plain request: headers, parameters and body defaults per
operation (templates), several calls for one operation (`calls`), related records kept apart
from the record (`related`, crmqa/drivers/api/related.py), composite fields (mapping.py), and
list and search requests written as templates (listing.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests

from crmqa.checks.paths import search_path
from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.listing import ListArgumentError, Lister
from crmqa.drivers.api.mapping import NotSupported as FilterNotSupported
from crmqa.drivers.api.mapping import (
    UnmappedValue,
    composite_gaps,
    field_errors,
    filter_params,
    rows_from_csv,
    rows_to_csv,
    set_dotted,
    split_related,
    to_canonical,
    to_product,
)
from crmqa.drivers.api.related import RelatedRecords, reference_ids
from crmqa.drivers.api.session import ApiSession, Exchange, as_header_values, without_empty
from crmqa.plan.canonical import CONVERSION_IDS
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.models import CanonicalOutcome
from crmqa.profiles.adapter import OperationCall, OperationResult
from crmqa.profiles.models import (
    CallSpec,
    ConvertSpec,
    EntitySpec,
    ImportSpec,
    NoEquivalent,
    OperationSpec,
    Profile,
)
from crmqa.profiles.target import ANONYMOUS
from crmqa.profiles.templates import render_value

_GATEWAY_ERRORS = frozenset({502, 503, 504})
_OK = CanonicalOutcome.OK.value
_ID_IN_BRACKETS = re.compile(r"\(([^()]*)\)\s*$")


#: Converting a lead creates records of these entities (canonical key of the answer -> entity).
CONVERT_CREATES = {key: entity for entity, key in CONVERSION_IDS.items()}


class OperationError(Exception):
    """The step's arguments do not fit the operation (a test defect in the plan)."""


def _json(exchange: Exchange, expect_json: bool) -> Any:
    """The decoded body; garbage where JSON was expected is an environment problem."""
    response = exchange.response
    assert response is not None
    if response.status_code in _GATEWAY_ERRORS:
        raise EnvironmentProblem(f"the CRM is unavailable: {exchange.summary()}")
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        if expect_json and 200 <= response.status_code < 300:
            snippet = response.text[:120].replace("\n", " ")
            raise EnvironmentProblem(
                f"expected JSON, got {response.headers.get('Content-Type', 'no content type')}"
                f" ({snippet!r}): {exchange.summary()}"
            ) from None
        return None


def _is_success(status: int, success: list[int] | None) -> bool:
    return status in success if success is not None else 200 <= status < 300


def _merge(defaults: Any, given: Any) -> Any:
    """`given` over `defaults`, mappings merged key by key."""
    if isinstance(defaults, dict) and isinstance(given, dict):
        merged = dict(defaults)
        for key, value in given.items():
            merged[key] = _merge(defaults.get(key), value) if key in defaults else value
        return merged
    return given


class OperationRunner:
    """Performs canonical operations for one profile; stateless between calls."""

    def __init__(self, profile: Profile, base_dir: Path) -> None:
        self.profile = profile
        self.base_dir = base_dir
        self.lister = Lister(self)
        self.related = RelatedRecords(self)

    def entity(self, name: str) -> EntitySpec:
        spec = self.profile.entities.get(name)
        if spec is None:
            raise OperationError(f"profile {self.profile.name!r} does not describe {name!r}")
        return spec

    def perform(
        self, call: OperationCall, api: ApiSession, timeout_s: float | None
    ) -> OperationResult:
        entity = self.entity(call.entity)
        handler = getattr(self, f"_op_{call.operation}")
        try:
            result: OperationResult = handler(entity, call, api, timeout_s)
        except ListArgumentError as exc:
            raise OperationError(str(exc)) from None
        return result

    # ------------------------------------------------------------------ requests

    def item_path(self, entity: EntitySpec, op: str, default: str, args: dict[str, Any]) -> str:
        """The operation's path with `{id}` filled in from the step's `id`."""
        template = entity.operation(op).path or default
        if "{id}" in template:
            if args.get("id") in (None, ""):
                raise OperationError(f"{op} needs `id` in `with`")
            template = template.replace("{id}", str(args["id"]))
        return template

    def event_name(self, entity: EntitySpec, op: str, default: str) -> str:
        return f"{entity.method_of(op)} {entity.operation(op).path or default}"

    def _context(self, api: ApiSession, args: dict[str, Any]) -> dict[str, Any]:
        return {**api.template_context, "id": args.get("id"), "data": args.get("data")}

    def send(self, spec: OperationSpec, api: ApiSession, method: str, path: str,
             args: dict[str, Any], *, params: dict[str, Any] | None = None, json: Any = None,
             files: Any = None, headers: dict[str, str] | None = None,
             timeout_s: float | None = None, name: str | None = None) -> Exchange:
        """Send one request of an operation, with the operation's own headers and params."""
        if spec.headers or spec.params:
            context = self._context(api, args)
            extra_headers = as_header_values(without_empty(
                render_value(spec.headers, context, "operation headers")))
            extra_params = without_empty(render_value(spec.params, context,
                                                      "operation params"))
            headers = {**extra_headers, **(headers or {})} or None
            params = {**extra_params, **(params or {})} or None
        return api.send(method, path, params=params, json=json, files=files, headers=headers,
                        timeout_s=timeout_s, name=name)

    def outgoing_body(self, spec: OperationSpec, body: dict[str, Any], args: dict[str, Any],
                      api: ApiSession) -> Any:
        """The body as sent: inside `body_wrapper`, over the operation's `body_defaults`."""
        sent: Any = {spec.body_wrapper: body} if spec.body_wrapper else body
        if spec.body_defaults:
            defaults = render_value(spec.body_defaults, self._context(api, args),
                                    "body_defaults")
            sent = _merge(defaults, sent)
        return sent

    def decode(self, exchange: Exchange, expect_json: bool) -> Any:
        return _json(exchange, expect_json)

    def outcome(self, exchange: Exchange, body: Any, success: list[int] | None,
                api: ApiSession) -> str:
        """The canonical outcome of an answer, through the profile's status and body rules."""
        return self.profile.outcome_for(
            exchange.status or 0, success, body=body, anonymous=api.identity == ANONYMOUS,
        ).value

    def errors(self, entity: EntitySpec | None, body: Any) -> dict[str, list[str]]:
        return field_errors(self.profile.errors, entity, body)

    def id_from_header(self, spec: OperationSpec, exchange: Exchange) -> Any:
        """A new record's id from a response header (Location, OData-EntityId), if any."""
        if not spec.id_header or exchange.response is None:
            return None
        value = exchange.response.headers.get(spec.id_header)
        if not value:
            return None
        if spec.id_pattern is not None:
            match = re.search(spec.id_pattern, value)
            if match is None:
                return None
            groups = match.groupdict()
            return groups.get("id") or (match.group(1) if match.groups() else match.group(0))
        bracketed = _ID_IN_BRACKETS.search(value)  # .../leads(00000000-...) (OData)
        if bracketed:
            return bracketed.group(1)
        return value.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or None

    def created_by(self, entity_name: str, op: str, exchange: Exchange) -> list[tuple[str, Any]]:
        """(entity, id) of the records a successful create or convert answer names, read the
        profile's way: for writes sent without an operation (fuzzing), so that they are
        deleted afterwards. Empty when the answer names none."""
        entity = self.entity(entity_name)
        body = _json(exchange, expect_json=False)
        if op == "create":
            spec = entity.operation("create")
            new_id = None
            if spec.id_path and isinstance(body, dict | list):
                new_id = search_path(spec.id_path, body)
            if new_id is None:
                new_id = self.id_from_header(spec, exchange)
            if new_id is None:
                product = self._product_record(entity, "create", body)
                new_id = product.get(entity.id_field) if isinstance(product, dict) else None
            return [(entity_name, new_id)] if new_id not in (None, "") else []
        if op == "convert" and isinstance(body, dict | list):
            results = entity.convert.results if entity.convert else ConvertSpec().results
            made = [(CONVERT_CREATES[key], search_path(path, body))
                    for key, path in results.items() if key in CONVERT_CREATES]
            return [(made_entity, made_id) for made_entity, made_id in made
                    if made_id not in (None, "")]
        return []

    def _exchange(self, entity: EntitySpec, op: str, args: dict[str, Any], api: ApiSession,
                  timeout_s: float | None, *, method: str, path: str, default: str,
                  body: Any = None, record: Any = None) -> tuple[Exchange, dict[str, Any]]:
        """The operation's request, or its `calls` in order: (the last exchange, saved)."""
        spec = entity.operation(op)
        if not spec.calls:
            exchange = self.send(spec, api, method, path, args, json=body,
                                 timeout_s=timeout_s,
                                 name=self.event_name(entity, op, default))
            return exchange, {}
        return self._calls(spec, op, args, api, timeout_s, record)

    def _calls(self, spec: OperationSpec, op: str, args: dict[str, Any], api: ApiSession,
               timeout_s: float | None, record: Any) -> tuple[Exchange, dict[str, Any]]:
        saved: dict[str, Any] = {}
        answers: list[Any] = []
        exchange: Exchange | None = None
        for number, call in enumerate(spec.calls, 1):
            context = {**self._context(api, args), "record": record, "saved": saved,
                       "answers": answers}
            exchange = self._call(spec, op, number, call, args, context, api, timeout_s)
            answer = _json(exchange, expect_json=False)
            answers.append(answer)
            if not _is_success(exchange.status or 0, call.success):
                break
            for name, path in call.save.items():
                saved[name] = search_path(path, answer) if isinstance(answer, dict | list) \
                    else None
        assert exchange is not None
        return exchange, saved

    def _call(self, spec: OperationSpec, op: str, number: int, call: CallSpec,
              args: dict[str, Any], context: dict[str, Any], api: ApiSession,
              timeout_s: float | None) -> Exchange:
        where = f"{op} calls[{number - 1}]"
        path = call.path
        if "{id}" in path:
            if args.get("id") in (None, ""):
                raise OperationError(f"{op} needs `id` in `with`")
            path = path.replace("{id}", str(args["id"]))
        url = str(render_value(path, context, where))
        params = without_empty(render_value(call.params, context, where))
        headers = as_header_values(without_empty(render_value(call.headers, context, where)))
        body = render_value(call.body, context, where)
        return self.send(spec, api, call.method, url, args, params=params or None, json=body,
                         headers=headers or None, timeout_s=timeout_s,
                         name=f"{call.method} {call.path}")

    # ------------------------------------------------------------------ records

    def _product_record(self, entity: EntitySpec, op: str, body: Any) -> Any:
        record_path = entity.operation(op).record_path or entity.record_path
        return search_path(record_path, body) if record_path else body

    def _record_result(
        self, entity: EntitySpec, op: str, exchange: Exchange, api: ApiSession
    ) -> OperationResult:
        spec = entity.operation(op)
        status = exchange.status or 0
        body = _json(exchange, expect_json=status != 204)
        outcome = self.outcome(exchange, body, spec.success, api)
        result = OperationResult(outcome=outcome, status=status, extra={"raw": body})
        if outcome == _OK:
            product = self._product_record(entity, op, body)
            result.record = to_canonical(entity, product) if isinstance(product, dict) else None
        else:
            result.field_errors = self.errors(entity, body)
            message = search_path(self.profile.errors.message_path, body) if isinstance(
                body, dict | list) and self.profile.errors.message_path else None
            if message is not None:
                result.extra["message"] = message
        return result

    def _data(self, op: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise OperationError(f"{op} needs `data` as a mapping of canonical fields")
        return data

    def _body(self, entity: EntitySpec, op: str, data: Any,
              current: dict[str, Any] | None = None) -> dict[str, Any]:
        """The product's fields for canonical `data` (not wrapped, no defaults)."""
        try:
            return to_product(entity, self._data(op, data), current)
        except UnmappedValue as exc:
            raise NoEquivalent(f"{op}: {exc} (profile {self.profile.name!r})") from None

    def _not_sent(self, entity: EntitySpec, data: dict[str, Any], result: OperationResult
                  ) -> None:
        left_out = [field for field in data if not entity.has_equivalent(field)]
        if left_out:
            result.extra["not_sent"] = left_out

    def _filters(self, entity: EntitySpec, op: str, filters: dict[str, Any]) -> dict[str, Any]:
        try:
            return filter_params(entity, filters)
        except (UnmappedValue, FilterNotSupported) as exc:
            raise NoEquivalent(f"{op}: filter {exc} (profile {self.profile.name!r})") from None

    def _new_id(self, entity: EntitySpec, exchange: Exchange, body: Any,
                saved: dict[str, Any], record: dict[str, Any] | None) -> Any:
        spec = entity.operation("create")
        if saved.get("id") not in (None, ""):
            return saved["id"]
        if spec.id_path and isinstance(body, dict | list):
            return search_path(spec.id_path, body)
        from_header = self.id_from_header(spec, exchange)
        if from_header is not None:
            return from_header
        return (record or {}).get("id")

    # ------------------------------------------------------------------ operations

    def _op_create(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        spec = entity.operation("create")
        data = self._data("create", call.args.get("data", {}))
        own, parts = split_related(entity, data)
        product = self._body(entity, "create", own)
        made: list[tuple[str, Any, Any]] = []
        try:
            for name, related in entity.related.items():
                refused, related_id = self.related.create(
                    entity, name, related, parts.get(name, {}), call.args, api, timeout_s)
                if refused is not None:
                    self.related.roll_back(made, api, timeout_s,
                                           f"related record '{name}' was refused")
                    return refused
                made.append((name, related, related_id))
                set_dotted(product, related.reference, related_id)
            path = self.item_path(entity, "create", entity.collection, call.args)
            exchange, saved = self._exchange(
                entity, "create", call.args, api, timeout_s, method=entity.method_of("create"),
                path=path, default=entity.collection,
                body=self.outgoing_body(spec, product, call.args, api), record=product)
            result = self._record_result(entity, "create", exchange, api)
        except BaseException:
            if made:  # the record was not made: its related records must not stay
                self.related.roll_back(made, api, timeout_s, "creating the record failed")
            raise
        self._not_sent(entity, data, result)
        if result.outcome != _OK:
            if made:
                self.related.roll_back(made, api, timeout_s,
                                       f"the record was refused ({result.outcome})")
            return result
        body = result.extra.get("raw")
        new_id = self._new_id(entity, exchange, body, saved, result.record)
        if new_id is not None:
            result.created_ids.append(new_id)  # tracked first: cleanup must not depend on more
        elif made:
            self.related.roll_back(made, api, timeout_s,
                                   "the record was created but its id is unknown")
        if spec.read_back or entity.related:
            self._read_back(entity, "create", new_id, result, api, timeout_s)
        return result

    def _read_back(self, entity: EntitySpec, op: str, record_id: Any, result: OperationResult,
                   api: ApiSession, timeout_s: float | None) -> None:
        """Replace a write's record with the item read again (answers without the record)."""
        if record_id in (None, ""):
            spec = entity.operation(op)
            where = spec.id_path or spec.id_header or entity.id_field
            raise EnvironmentProblem(
                f"{op} succeeded but its answer holds no id at {where!r} to read the record "
                "back"
            )
        got = self._op_get(entity, OperationCall(entity="", operation="get",
                                                 args={"id": record_id}, identity=""),
                           api, timeout_s)
        result.extra["write_answer"] = result.extra.get("raw")
        if got.outcome != _OK:
            result.record = None
            result.extra["read_back"] = f"GET after {op} answered {got.outcome} ({got.status})"
            return
        result.record = got.record

    def _get_product(self, entity: EntitySpec, args: dict[str, Any], api: ApiSession,
                     timeout_s: float | None) -> tuple[OperationResult, Any]:
        """The record as the product answers it, and its canonical result."""
        path = self.item_path(entity, "get", entity.item_path, args)
        exchange, _ = self._exchange(entity, "get", args, api, timeout_s,
                                     method=entity.method_of("get"), path=path,
                                     default=entity.item_path)
        result = self._record_result(entity, "get", exchange, api)
        product = (self._product_record(entity, "get", result.extra.get("raw"))
                   if result.outcome == _OK else None)
        return result, product

    def _op_get(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                timeout_s: float | None) -> OperationResult:
        result, product = self._get_product(entity, call.args, api, timeout_s)
        if result.outcome == _OK and entity.related:
            self.related.attach(entity, product, result.record, api, timeout_s)
        return result

    def _op_update(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        spec = entity.operation("update")
        data = self._data("update", call.args.get("data", {}))
        own, parts = split_related(entity, data)
        current: dict[str, Any] | None = None
        references: dict[str, Any] = {}
        gaps = composite_gaps(entity, own)
        if parts or (gaps and "get" in entity.operations):
            # The related records' ids, or the parts of a composite field the update lacks,
            # are in the record as it is.
            got, product = self._get_product(entity, call.args, api, timeout_s)
            if got.outcome != _OK:
                return got
            current = got.record
            references = reference_ids(entity, product)
        for name, part in parts.items():
            if name not in references:
                raise EnvironmentProblem(
                    f"update: the record holds no reference to its related record '{name}' "
                    f"at {entity.related[name].reference!r}")
            refused = self.related.update(entity, name, entity.related[name],
                                          references[name], part, call.args, api, timeout_s)
            if refused is not None:
                return refused
        result = OperationResult(outcome=_OK)
        if own or not parts:
            product_body = self._body(entity, "update", own, current)
            path = self.item_path(entity, "update", entity.item_path, call.args)
            exchange, _ = self._exchange(
                entity, "update", call.args, api, timeout_s, method=entity.method_of("update"),
                path=path, default=entity.item_path,
                body=self.outgoing_body(spec, product_body, call.args, api),
                record=product_body)
            result = self._record_result(entity, "update", exchange, api)
        self._not_sent(entity, data, result)
        if result.outcome == _OK and (spec.read_back or entity.related):
            self._read_back(entity, "update", call.args.get("id"), result, api, timeout_s)
        return result

    def _op_delete(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        references: dict[str, Any] = {}
        if any(related.delete_with_record for related in entity.related.values()):
            got, product = self._get_product(entity, call.args, api, timeout_s)
            if got.outcome == _OK:
                references = reference_ids(entity, product)
        path = self.item_path(entity, "delete", entity.item_path, call.args)
        exchange, _ = self._exchange(entity, "delete", call.args, api, timeout_s,
                                     method=entity.method_of("delete"), path=path,
                                     default=entity.item_path)
        result = self._record_result(entity, "delete", exchange, api)
        result.record = None
        if result.outcome == _OK:
            problems = [problem for name, related in entity.related.items()
                        if related.delete_with_record and name in references
                        for problem in [self.related.delete(name, related, references[name],
                                                            api, timeout_s)] if problem]
            if problems:
                raise EnvironmentProblem("the record was deleted, but " + "; ".join(problems))
        return result

    def _op_list(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                 timeout_s: float | None) -> OperationResult:
        return self._list(entity, "list", call.args, api, timeout_s)

    def _op_search(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        return self._list(entity, "search", call.args, api, timeout_s)

    def _list(self, entity: EntitySpec, op: str, args: dict[str, Any], api: ApiSession,
              timeout_s: float | None) -> OperationResult:
        result, products = self.lister.run(entity, op, args, api, timeout_s)
        if result.outcome == _OK and entity.related and result.records:
            for product, record in zip(products, result.records, strict=True):
                if isinstance(record, dict):
                    self.related.attach(entity, product, record, api, timeout_s)
        return result

    def _op_import(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        spec = entity.import_
        if spec is None:
            raise OperationError(f"profile {self.profile.name!r} describes no import for "
                                 f"{call.entity}")
        content, filename = self._import_file(entity, call.args)
        path = spec.path or entity.collection.rstrip("/") + "/import"
        files = {spec.file_field: (filename, content, "text/csv")}
        exchange = self.send(entity.operation("import"), api, entity.method_of("import"), path,
                             call.args, files=files, timeout_s=timeout_s,
                             name=f"{entity.method_of('import')} {path}")
        body = _json(exchange, expect_json=True)
        if spec.mode == "two_step" and 200 <= (exchange.status or 0) < 300:
            token = search_path(spec.preview_token_path, body)
            if token in (None, ""):
                raise EnvironmentProblem(
                    f"import preview answered no token at {spec.preview_token_path!r}: "
                    f"{exchange.summary()}"
                )
            commit_path = (spec.commit_path or path + "/commit").replace("{token}", str(token))
            payload = {spec.commit_token_field: token} if spec.commit_token_field else None
            exchange = self.send(entity.operation("import"), api, spec.commit_method,
                                 commit_path, call.args, json=payload, timeout_s=timeout_s,
                                 name=f"{spec.commit_method} {spec.commit_path}")
            body = _json(exchange, expect_json=True)
        status = exchange.status or 0
        outcome = self.outcome(exchange, body, spec.success, api)
        result = OperationResult(outcome=outcome, status=status, extra={"raw": body})
        rejected_raw = search_path(spec.rejected_path, body) if spec.rejected_path and (
            isinstance(body, dict | list)) else None
        refused_whole = (outcome != _OK and spec.all_or_nothing
                         and isinstance(rejected_raw, list) and bool(rejected_raw))
        if outcome != _OK and not refused_whole:
            result.field_errors = field_errors(self.profile.errors, entity, body)
            return result
        if refused_whole:
            # The product answered "fix these rows first" and wrote nothing: in canonical
            # terms the import ran, imported nothing and rejected these rows.
            result.outcome = _OK
        ids = search_path(spec.ids_path, body) if spec.ids_path and not refused_whole else None
        ids = ids if isinstance(ids, list) else []
        imported = (search_path(spec.imported_path, body) if spec.imported_path
                    and not refused_whole else None)
        rejected = self._rejected_rows(entity, spec, rejected_raw)
        result.extra.update(
            imported=imported if isinstance(imported, int) else len(ids), ids=ids,
            rejected=rejected,
        )
        result.created_ids.extend(ids)
        return result

    def _rejected_rows(self, entity: EntitySpec, spec: ImportSpec,
                       rejected_raw: Any) -> list[dict[str, Any]]:
        """Rejected rows as [{row, errors: {canonical field: [messages]}}], canonical numbers.

        Canonical rows count the header as row 1; `row_base` is what the product calls the
        first data row.
        """
        shift = 2 - spec.row_base
        by_row: dict[Any, dict[str, list[str]]] = {}
        for item in rejected_raw if isinstance(rejected_raw, list) else []:
            if not isinstance(item, dict):
                continue
            row = item.get(spec.rejected_row_key)
            if isinstance(row, int) and not isinstance(row, bool):
                row += shift
            errors = by_row.setdefault(row, {})
            if spec.rejected_shape == "flat":
                field = str(item.get(spec.rejected_field_key, ""))
                field = entity.reverse_fields.get(field, field)
                errors.setdefault(field, []).append(str(item.get(spec.rejected_message_key, "")))
            else:
                found = field_errors(
                    self.profile.errors.model_copy(
                        update={"field_errors_path": spec.rejected_errors_key, "shape": "dict",
                                "message_patterns": []}),
                    entity, item,
                )
                for field, messages in found.items():
                    errors.setdefault(field, []).extend(messages)
        return [{"row": row, "errors": errors} for row, errors in by_row.items()]

    def _import_file(self, entity: EntitySpec, args: dict[str, Any]) -> tuple[bytes, str]:
        spec = entity.import_
        assert spec is not None
        if "file" in args:
            folders = search_folders(self.base_dir)
            name = str(args["file"])
            path = find_data_file(name, folders)
            if path is None:
                raise OperationError(f"import file: {missing_file_message(name, folders)}")
            return path.read_bytes(), path.name
        rows = args.get("rows")
        if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
            columns = (spec.columns or [f for f in entity.fields if entity.has_equivalent(f)]
                       or sorted({k for r in rows for k in r}))
            return rows_to_csv(entity, columns, rows).encode("utf-8"), "import.csv"
        raise OperationError("import needs `file: path` or `rows: [...]` in `with`")

    def _op_export(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        spec = entity.export
        default = entity.collection.rstrip("/") + "/export"
        path = spec.path if spec and spec.path else default
        params: dict[str, Any] = {}
        if call.args.get("query") not in (None, ""):
            params[entity.list_.search_param] = call.args["query"]
        params.update(self._filters(entity, "export", call.args.get("filters") or {}))
        exchange = self.send(entity.operation("export"), api, entity.method_of("export"), path,
                             call.args, params=params, timeout_s=timeout_s,
                             name=f"{entity.method_of('export')} {path}")
        response = exchange.response
        assert response is not None
        if response.status_code in _GATEWAY_ERRORS:
            raise EnvironmentProblem(f"the CRM is unavailable: {exchange.summary()}")
        outcome = self.profile.outcome_for(response.status_code, spec.success if spec else None,
                                           body=_json(exchange, False),
                                           anonymous=api.identity == ANONYMOUS)
        result = OperationResult(outcome=outcome.value, status=response.status_code)
        if outcome is not CanonicalOutcome.OK:
            result.field_errors = field_errors(self.profile.errors, entity, _json(exchange, False))
            return result
        fmt = spec.format if spec else "csv"
        if fmt == "csv":
            text = _decode(response)
            rows = rows_from_csv(entity, text, spec)
            result.extra.update(content=text)
        else:
            body = _json(exchange, expect_json=True)
            items = search_path(spec.items_path, body) if spec and spec.items_path else body
            rows = [to_canonical(entity, item) for item in (items or [])]
            result.extra.update(content=response.text)
        result.extra["rows"] = rows
        result.records = rows
        result.total = len(rows)
        return result

    def _op_convert(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                    timeout_s: float | None) -> OperationResult:
        spec = entity.convert
        default = entity.item_path.rstrip("/") + "/convert"
        path_template = spec.path if spec and spec.path else default
        if "{id}" in path_template and call.args.get("id") in (None, ""):
            raise OperationError("convert needs `id` in `with`")
        path = path_template.replace("{id}", str(call.args.get("id")))
        method = spec.method if spec else "POST"
        payload: Any = call.args.get("data")
        if spec is not None and spec.body is not None:
            # Products that convert by an update: the fixed body, the step's data over it.
            extra = payload if isinstance(payload, dict) else {}
            payload = {**spec.body, **self._body(entity, "convert", extra)}
        exchange = self.send(entity.operation("convert"), api, method, path, call.args,
                             json=payload, timeout_s=timeout_s, name=f"{method} {path_template}")
        status = exchange.status or 0
        body = _json(exchange, expect_json=True)
        outcome = self.outcome(exchange, body, spec.success if spec else None, api)
        result = OperationResult(outcome=outcome, status=status, extra={"raw": body})
        if outcome == _OK:
            results = spec.results if spec else {}
            result.record = {key: search_path(p, body) for key, p in results.items()}
        else:
            result.field_errors = field_errors(self.profile.errors, entity, body)
        return result



def _decode(response: requests.Response) -> str:
    try:
        return response.content.decode(response.encoding or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return response.content.decode("utf-8", errors="replace")
