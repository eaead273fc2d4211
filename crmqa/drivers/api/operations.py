"""Canonical operations (`lead.create`, `lead.search`, ...) performed through a profile.

Each operation builds the product's request from the profile, sends it through the identity's
`ApiSession`, and reads the answer back into an `OperationResult` in canonical terms. Answers
that should be JSON but are not (an HTML error page from a proxy, a truncated body) are
environment problems, as are gateway errors (502/503/504).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from crmqa.checks.paths import search_path
from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.mapping import (
    UnmappedValue,
    field_errors,
    filter_params,
    page_params,
    rows_from_csv,
    rows_to_csv,
    sort_params,
    to_canonical,
    to_product,
)
from crmqa.drivers.api.session import ApiSession, Exchange
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.models import CanonicalOutcome
from crmqa.profiles.adapter import OperationCall, OperationResult
from crmqa.profiles.models import EntitySpec, ImportSpec, NoEquivalent, Profile
from crmqa.profiles.target import ANONYMOUS

_GATEWAY_ERRORS = frozenset({502, 503, 504})
_OK = CanonicalOutcome.OK.value


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


class OperationRunner:
    """Performs canonical operations for one profile; stateless between calls."""

    def __init__(self, profile: Profile, base_dir: Path) -> None:
        self.profile = profile
        self.base_dir = base_dir

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
        result: OperationResult = handler(entity, call, api, timeout_s)
        return result

    # ------------------------------------------------------------------ helpers

    def _path(self, entity: EntitySpec, op: str, default: str, args: dict[str, Any]) -> str:
        template = entity.operation(op).path or default
        if "{id}" in template:
            if args.get("id") in (None, ""):
                raise OperationError(f"{op} needs `id` in `with`")
            template = template.replace("{id}", str(args["id"]))
        return template

    def _outcome(self, exchange: Exchange, body: Any, success: list[int] | None,
                 api: ApiSession) -> str:
        """The canonical outcome of an answer, through the profile's status and body rules."""
        return self.profile.outcome_for(
            exchange.status or 0, success, body=body, anonymous=api.identity == ANONYMOUS,
        ).value

    def _filters(self, entity: EntitySpec, op: str, filters: dict[str, Any]) -> dict[str, Any]:
        try:
            return filter_params(entity, filters)
        except UnmappedValue as exc:
            raise NoEquivalent(f"{op}: filter {exc} (profile {self.profile.name!r})") from None

    def _name(self, entity: EntitySpec, op: str, default: str) -> str:
        return f"{entity.method_of(op)} {entity.operation(op).path or default}"

    def _record_result(
        self, entity: EntitySpec, op: str, exchange: Exchange, api: ApiSession
    ) -> OperationResult:
        spec = entity.operation(op)
        status = exchange.status or 0
        body = _json(exchange, expect_json=status != 204)
        outcome = self._outcome(exchange, body, spec.success, api)
        result = OperationResult(outcome=outcome, status=status, extra={"raw": body})
        if outcome == _OK:
            record_path = spec.record_path or entity.record_path
            product = search_path(record_path, body) if record_path else body
            result.record = to_canonical(entity, product) if isinstance(product, dict) else None
        else:
            result.field_errors = field_errors(self.profile.errors, entity, body)
            message = search_path(self.profile.errors.message_path, body) if isinstance(
                body, dict) else None
            if message is not None:
                result.extra["message"] = message
        return result

    def _body(self, entity: EntitySpec, op: str, data: Any) -> Any:
        if not isinstance(data, dict):
            raise OperationError(f"{op} needs `data` as a mapping of canonical fields")
        try:
            body = to_product(entity, data)
        except UnmappedValue as exc:
            raise NoEquivalent(f"{op}: {exc} (profile {self.profile.name!r})") from None
        wrapper = entity.operation(op).body_wrapper
        return {wrapper: body} if wrapper else body

    # ------------------------------------------------------------------ operations

    def _op_create(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        spec = entity.operation("create")
        exchange = api.send(
            entity.method_of("create"), self._path(entity, "create", entity.collection, call.args),
            json=self._body(entity, "create", call.args.get("data", {})), timeout_s=timeout_s,
            name=self._name(entity, "create", entity.collection),
        )
        result = self._record_result(entity, "create", exchange, api)
        if result.outcome != _OK:
            return result
        body = result.extra.get("raw")
        new_id = (search_path(spec.id_path, body) if spec.id_path and isinstance(body, dict)
                  else (result.record or {}).get("id"))
        if new_id is not None:
            result.created_ids.append(new_id)  # tracked first: cleanup must not depend on more
        if spec.read_back:
            self._read_back(entity, "create", new_id, result, api, timeout_s)
        return result

    def _read_back(self, entity: EntitySpec, op: str, record_id: Any, result: OperationResult,
                   api: ApiSession, timeout_s: float | None) -> None:
        """Replace a write's record with the item read again (answers without the record)."""
        if record_id in (None, ""):
            raise EnvironmentProblem(
                f"{op} succeeded but its answer holds no id at "
                f"{entity.operation(op).id_path or entity.id_field!r} to read the record back"
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

    def _op_get(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                timeout_s: float | None) -> OperationResult:
        exchange = api.send(
            entity.method_of("get"), self._path(entity, "get", entity.item_path, call.args),
            timeout_s=timeout_s, name=self._name(entity, "get", entity.item_path),
        )
        return self._record_result(entity, "get", exchange, api)

    def _op_update(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        exchange = api.send(
            entity.method_of("update"), self._path(entity, "update", entity.item_path, call.args),
            json=self._body(entity, "update", call.args.get("data", {})), timeout_s=timeout_s,
            name=self._name(entity, "update", entity.item_path),
        )
        result = self._record_result(entity, "update", exchange, api)
        if result.outcome == _OK and entity.operation("update").read_back:
            self._read_back(entity, "update", call.args.get("id"), result, api, timeout_s)
        return result

    def _op_delete(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        exchange = api.send(
            entity.method_of("delete"), self._path(entity, "delete", entity.item_path, call.args),
            timeout_s=timeout_s, name=self._name(entity, "delete", entity.item_path),
        )
        result = self._record_result(entity, "delete", exchange, api)
        result.record = None
        return result

    def _op_list(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                 timeout_s: float | None) -> OperationResult:
        return self._list(entity, "list", call.args, api, timeout_s)

    def _op_search(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        return self._list(entity, "search", call.args, api, timeout_s)

    def _list(self, entity: EntitySpec, op: str, args: dict[str, Any], api: ApiSession,
              timeout_s: float | None) -> OperationResult:
        spec = entity.list_
        pagination = spec.pagination
        default_path = spec.path or entity.collection
        if op == "search":
            default_path = spec.search_path or default_path
        path = self._path(entity, op, default_path, args)
        params: dict[str, Any] = {}
        if op == "search" and args.get("query") not in (None, ""):
            params[spec.search_param] = args["query"]
        filters = args.get("filters") or {}
        if not isinstance(filters, dict):
            raise OperationError(f"{op} needs `filters` as a mapping")
        params.update(self._filters(entity, op, filters))
        if args.get("sort"):
            if spec.sort is None:
                raise OperationError(f"profile {self.profile.name!r} cannot sort {op}")
            params.update(sort_params(spec.sort, entity, str(args["sort"])))
        requested_page = args.get("page")
        page = int(requested_page or 1)
        page_size = args.get("page_size")
        walk_all = bool(args.get("all"))
        # Cursor and link styles reach page N by walking; page/offset ask for it directly.
        # Nothing is sent for a page the step did not ask for: the product's default applies.
        walking = pagination.style in ("cursor", "next_link")
        try:
            asked = None if walk_all or requested_page is None else page
            params.update(page_params(pagination, asked, page_size))
        except ValueError as exc:
            raise OperationError(str(exc)) from None
        records: list[Any] = []
        name = self._name(entity, op, default_path)
        method = entity.method_of(op)
        url: str | None = path
        query: dict[str, Any] | None = params
        current = 1
        total: Any = None
        result = OperationResult(outcome=_OK)
        for _ in range(pagination.max_pages):
            assert url is not None
            exchange = api.send(method, url, params=query, timeout_s=timeout_s, name=name)
            status = exchange.status or 0
            body = _json(exchange, expect_json=True)
            outcome = self._outcome(exchange, body, entity.operation(op).success, api)
            result.status = status
            result.extra["raw"] = body
            if outcome != _OK:
                result.outcome = outcome
                result.field_errors = field_errors(self.profile.errors, entity, body)
                return result
            items = search_path(spec.items_path, body) if spec.items_path else body
            if not isinstance(items, list):
                raise EnvironmentProblem(
                    f"no list of records at {spec.items_path or 'the top'} of the answer: "
                    f"{exchange.summary()}"
                )
            if total is None and spec.total_path:
                total = search_path(spec.total_path, body)
            if walk_all or current == page or not walking:
                records.extend(items)
            if not walk_all and (current >= page or not walking):
                break
            if walk_all and pagination.style in ("page", "offset"):
                if not items:
                    break
                if pagination.style == "page":
                    query = {**params, pagination.page_param: pagination.first_page + current}
                else:
                    query = {**params, pagination.offset_param: len(records)}
                if isinstance(total, int) and len(records) >= total:
                    break
            else:
                next_url, next_query = self._next_page(pagination, body, exchange, params)
                if next_url is None:
                    if not walk_all and current < page:
                        records = []  # asked for a page past the end
                    break
                url, query = next_url, next_query
            current += 1
        result.records = [to_canonical(entity, item) for item in records]
        result.total = total if isinstance(total, int) else (
            len(result.records) if walk_all else None)
        return result

    def _next_page(self, pagination: Any, body: Any, exchange: Exchange,
                   params: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        if pagination.style == "cursor":
            cursor = search_path(pagination.next_cursor_path, body)
            if cursor in (None, ""):
                return None, None
            return exchange.url.split("?", 1)[0], {**params, pagination.cursor_param: cursor}
        if pagination.style == "next_link":
            link = (search_path(pagination.next_link_path, body) if pagination.next_link_path
                    else (exchange.response.links.get("next", {}).get("url")
                          if exchange.response is not None else None))
            if not link:
                return None, None
            return str(link), None  # the link carries its own query
        return None, None

    def _op_import(self, entity: EntitySpec, call: OperationCall, api: ApiSession,
                   timeout_s: float | None) -> OperationResult:
        spec = entity.import_
        if spec is None:
            raise OperationError(f"profile {self.profile.name!r} describes no import for "
                                 f"{call.entity}")
        content, filename = self._import_file(entity, call.args)
        path = spec.path or entity.collection.rstrip("/") + "/import"
        files = {spec.file_field: (filename, content, "text/csv")}
        exchange = api.send(entity.method_of("import"), path, files=files, timeout_s=timeout_s,
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
            exchange = api.send(spec.commit_method, commit_path, json=payload,
                                timeout_s=timeout_s,
                                name=f"{spec.commit_method} {spec.commit_path}")
            body = _json(exchange, expect_json=True)
        status = exchange.status or 0
        outcome = self._outcome(exchange, body, spec.success, api)
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
                        update={"field_errors_path": spec.rejected_errors_key, "shape": "dict"}),
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
            columns = spec.columns or list(entity.fields) or sorted({k for r in rows for k in r})
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
        exchange = api.send(entity.method_of("export"), path, params=params, timeout_s=timeout_s,
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
        exchange = api.send(method, path, json=payload, timeout_s=timeout_s,
                            name=f"{method} {path_template}")
        status = exchange.status or 0
        body = _json(exchange, expect_json=True)
        outcome = self._outcome(exchange, body, spec.success if spec else None, api)
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
