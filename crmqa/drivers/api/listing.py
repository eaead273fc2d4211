"""`list` and `search`: build the request (parameters or a template), walk pages, read totals.

Two ways to ask. By default crmqa adds parameters of its own: the search text
(`search_param`), each filter, the sort and the page. A profile whose product wants a query
written out (a JSON filter in a parameter, SOQL, an OData `$filter`, a search body) gives a
`list.request` / `list.search_request` template instead, and crmqa sends exactly that,
rendered with the query, the filters, the sort, the page and the cursor.

Either way the pagination style says how pages are reached: `page` and `offset` ask for page
N directly (and count up when walking every page), `cursor` passes the previous answer's
cursor on, `next_link` follows the answer's (or the Link header's) next URL. Totals come
from a field beside the records or from a response header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmqa.checks.paths import search_path
from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.mapping import (
    NotSupported,
    UnmappedValue,
    filter_params,
    page_params,
    sort_params,
    sort_value,
    to_canonical,
)
from crmqa.drivers.api.session import ApiSession, Exchange, as_header_values, without_empty
from crmqa.profiles.adapter import OperationResult
from crmqa.profiles.models import (
    CountRequest,
    EntitySpec,
    ListRequest,
    ListSpec,
    NoEquivalent,
)
from crmqa.profiles.templates import render_value

if TYPE_CHECKING:
    from crmqa.drivers.api.operations import OperationRunner

_OK = "ok"
_LAST_NUMBER = re.compile(r"(\d+)\s*$")


class ListArgumentError(ValueError):
    """The step's list arguments do not fit the profile (a test defect)."""


@dataclass
class _Asked:
    """What the step asks a list or search for, in the product's terms."""

    query: Any
    filters: dict[str, Any]
    filter_names: dict[str, str]  # product name -> canonical
    sort: dict[str, Any] | None
    sort_params: dict[str, Any]
    page: int
    page_size: int | None
    walk_all: bool
    asked_page: bool


def product_fields(entity: EntitySpec) -> list[str]:
    """The product fields a record of `entity` is read from, id first (for `$select`,
    `properties=`, `SELECT ...`)."""
    names = [entity.id_field]
    names += [product for product in entity.fields.values() if product]
    names += list(entity.composite)
    names += [spec.reference for spec in entity.related.values()]
    return list(dict.fromkeys(names))


def _total_from_header(spec: ListSpec, exchange: Exchange) -> int | None:
    if not spec.total_header or exchange.response is None:
        return None
    value = exchange.response.headers.get(spec.total_header)
    if not value:
        return None
    if spec.total_pattern is None:
        match = _LAST_NUMBER.search(value)
        text = match.group(1) if match else None
    else:
        match = re.search(spec.total_pattern, value)
        if match is None:
            return None
        groups = match.groupdict()
        text = groups.get("total") or (match.group(1) if match.groups() else match.group(0))
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class Lister:
    """Runs `list` and `search` for one profile."""

    def __init__(self, runner: OperationRunner) -> None:
        self.runner = runner
        self.profile = runner.profile

    def run(self, entity: EntitySpec, op: str, args: dict[str, Any], api: ApiSession,
            timeout_s: float | None) -> tuple[OperationResult, list[Any]]:
        """The canonical result, and the product records it was read from (same order)."""
        spec = entity.list_
        pagination = spec.pagination
        default_path = spec.path or entity.collection
        if op == "search":
            default_path = spec.search_path or default_path
        template = spec.request_for(op)
        path = self.runner.item_path(entity, op, (template.path if template and template.path
                                                  else None) or default_path, args)
        asked = self._asked(entity, op, args, api)
        name = self.runner.event_name(entity, op, default_path)
        method = template.method if template else entity.method_of(op)
        walking = pagination.style in ("cursor", "next_link")
        # Page and offset styles ask for page N directly; cursor and link styles walk to it.
        current = asked.page if (pagination.style in ("page", "offset")
                                 and not asked.walk_all) else 1
        cursor: Any = None
        next_url: str | None = None
        records: list[Any] = []
        total: int | None = None
        result = OperationResult(outcome=_OK)
        for _ in range(pagination.max_pages):
            if next_url is not None:
                headers = self._template_headers(template, asked, current, None, len(records),
                                                 entity, api)
                exchange = self.runner.send(entity.operation(op), api, "GET", next_url, args,
                                            headers=headers, timeout_s=timeout_s, name=name)
            elif template is not None:
                exchange = self._send_template(entity, op, template, path, asked, current,
                                               cursor, len(records), args, api, timeout_s, name)
            else:
                params = self._params(entity, op, asked, current, cursor, len(records))
                exchange = self.runner.send(entity.operation(op), api, method, path, args,
                                            params=params, timeout_s=timeout_s, name=name)
            status = exchange.status or 0
            body = self.runner.decode(exchange, expect_json=True)
            outcome = self.runner.outcome(exchange, body, entity.operation(op).success, api)
            result.status = status
            result.extra["raw"] = body
            if outcome != _OK:
                result.outcome = outcome
                result.field_errors = self.runner.errors(entity, body)
                return result, []
            items = search_path(spec.items_path, body) if spec.items_path else body
            if not isinstance(items, list):
                raise EnvironmentProblem(self._no_list(entity, spec.items_path, body, exchange))
            if total is None:
                found = search_path(spec.total_path, body) if spec.total_path else None
                total = found if isinstance(found, int) and not isinstance(found, bool) else (
                    _total_from_header(spec, exchange))
            if asked.walk_all or current == asked.page or not walking:
                records.extend(items)
            if not asked.walk_all and (current >= asked.page or not walking):
                break
            next_url = None
            if pagination.style in ("page", "offset"):
                if not items or (total is not None and len(records) >= total):
                    break
            elif pagination.style == "cursor":
                cursor = search_path(pagination.next_cursor_path, body)
                if cursor in (None, ""):
                    if not asked.walk_all and current < asked.page:
                        records = []  # asked for a page past the end
                    break
            elif pagination.style == "next_link":
                link = (search_path(pagination.next_link_path, body)
                        if pagination.next_link_path else (
                            exchange.response.links.get("next", {}).get("url")
                            if exchange.response is not None else None))
                if not link:
                    if not asked.walk_all and current < asked.page:
                        records = []
                    break
                next_url = str(link)  # the link carries its own query
            else:
                break
            current += 1
        else:
            # The bound came before the last page: what was read is not the whole list, and
            # a check counting it (a migration's missing records) would blame the product.
            raise EnvironmentProblem(self._bound_reached(entity, op, pagination.max_pages,
                                                         len(records), total))
        if total is None and spec.count_request is not None:
            total = self._count(entity, op, spec.count_request, template, asked, args, api,
                                timeout_s)
        result.records = [to_canonical(entity, item) for item in records]
        result.total = total if total is not None else (
            len(result.records) if asked.walk_all else None)
        return result, records

    def _bound_reached(self, entity: EntitySpec, op: str, max_pages: int, read: int,
                       total: int | None) -> str:
        name = self._entity_name(entity)
        of = f" of {total:,}" if total is not None else ""
        pages = f"{max_pages} page" + ("s" if max_pages != 1 else "")
        return (f"{name}.{op}: more than {pages} to read, the bound of profile "
                f"{self.profile.name!r} (entities.{name}.list.pagination.max_pages); crmqa "
                f"stopped there with {read:,}{of} records read: raise the bound, or ask for "
                "larger pages (page_size)")

    def _entity_name(self, entity: EntitySpec) -> str:
        return next((n for n, e in self.profile.entities.items() if e is entity), "?")

    def _count(self, entity: EntitySpec, op: str, count: CountRequest,
               template: ListRequest | None, asked: _Asked, args: dict[str, Any],
               api: ApiSession, timeout_s: float | None) -> int | None:
        """The total from the profile's count request (products whose pages carry none)."""
        clauses_from = count if count.filter is not None else (template or count)
        context = self._template_context(entity, clauses_from, asked, 1, None, 0, api)
        where = f"entities.{op} count_request"
        path = str(render_value(count.path or entity.list_.path or entity.collection,
                                context, where))
        params = without_empty(render_value(count.params, context, where))
        headers = as_header_values(without_empty(render_value(count.headers, context, where)))
        body = _without_nulls(render_value(count.body, context, where))
        exchange = self.runner.send(entity.operation(op), api, count.method, path, args,
                                    params=params or None, json=body,
                                    headers=headers or None, timeout_s=timeout_s,
                                    name=f"{count.method} {count.path or path} (count)")
        answer = self.runner.decode(exchange, expect_json=True)
        if self.runner.outcome(exchange, answer, None, api) != _OK:
            raise EnvironmentProblem(f"the count request was refused: {exchange.summary()}")
        found = search_path(count.total_path, answer) if isinstance(answer, dict | list) \
            else answer
        if isinstance(found, int) and not isinstance(found, bool):
            return found
        raise EnvironmentProblem(f"the count request answered no count at "
                                 f"{count.total_path!r}: {exchange.summary()}")

    # ------------------------------------------------------------------ what is asked

    def _no_list(self, entity: EntitySpec, items_path: str | None, body: Any,
                 exchange: Exchange) -> str:
        """Why the answer holds no records where the profile says, and where its lists are:
        a wrong `items_path` is the usual cause, and the answer shows the right one."""
        name = self._entity_name(entity)
        setting = f"profile {self.profile.name!r}, entities.{name}.list.items_path"
        found = list_paths(body)
        hint = (f"; the answer has lists at: {', '.join(found)}" if found
                else "; the answer holds no list")
        return (f"no list of records at {items_path or 'the top'} of the answer ({setting})"
                f"{hint}: {exchange.summary()}")

    def _asked(self, entity: EntitySpec, op: str, args: dict[str, Any],
               api: ApiSession) -> _Asked:
        spec = entity.list_
        filters = args.get("filters") or {}
        if not isinstance(filters, dict):
            raise ListArgumentError(f"{op} needs `filters` as a mapping")
        product_filters: dict[str, Any] = {}
        names: dict[str, str] = {}
        for canonical, value in filters.items():
            try:
                one = filter_params(entity, {canonical: value})
            except (UnmappedValue, NotSupported) as exc:
                raise NoEquivalent(f"{op}: filter {exc} (profile {self.profile.name!r})"
                                   ) from None
            product_filters.update(one)
            names.update({product: str(canonical) for product in one})
        sort: dict[str, Any] | None = None
        sorting: dict[str, Any] = {}
        if args.get("sort"):
            if spec.sort is None:
                raise ListArgumentError(f"profile {self.profile.name!r} cannot sort {op}")
            try:
                sort = sort_value(spec.sort, entity, str(args["sort"]))
                sorting = sort_params(spec.sort, entity, str(args["sort"]),
                                      api.template_context)
            except NotSupported as exc:
                raise NoEquivalent(f"{op}: {exc} (profile {self.profile.name!r})") from None
            sort["expression"] = next(iter(sorting.values()))
        requested = args.get("page")
        page_size = args.get("page_size")
        return _Asked(
            query=args.get("query") if op == "search" else None,
            filters=product_filters, filter_names=names, sort=sort, sort_params=sorting,
            page=int(requested or 1), page_size=int(page_size) if page_size else None,
            walk_all=bool(args.get("all")), asked_page=requested is not None,
        )

    def _params(self, entity: EntitySpec, op: str, asked: _Asked, current: int,
                cursor: Any, seen: int) -> dict[str, Any]:
        """crmqa's own parameters for one page (no template)."""
        spec = entity.list_
        pagination = spec.pagination
        params: dict[str, Any] = {}
        if asked.query not in (None, ""):
            params[spec.search_param] = asked.query
        params.update(asked.filters)
        params.update(asked.sort_params)
        # Nothing is sent for a page the step did not ask for: the product's default applies.
        page: int | None = None
        if asked.walk_all:
            page = current if current > 1 else None
        elif asked.asked_page:
            page = current
        if asked.walk_all and pagination.style == "offset" and current > 1:
            # Walking: the next offset is what came so far (the page size may be unknown).
            params.update(page_params(pagination, None, asked.page_size))
            params[pagination.offset_param] = seen
        else:
            try:
                params.update(page_params(pagination, page, asked.page_size))
            except ValueError as exc:
                raise ListArgumentError(str(exc)) from None
        if pagination.style == "cursor" and cursor not in (None, ""):
            params[pagination.cursor_param] = cursor
        return params

    # ------------------------------------------------------------------ templates

    def _template_context(self, entity: EntitySpec, template: ListRequest, asked: _Asked,
                          current: int, cursor: Any, seen: int,
                          api: ApiSession) -> dict[str, Any]:
        size = asked.page_size or entity.list_.pagination.default_size
        offset = seen if asked.walk_all else (current - 1) * (size or 0)
        context: dict[str, Any] = {
            **api.template_context,
            "query": asked.query, "filters": dict(asked.filters), "sort": asked.sort,
            "page": current, "page_size": asked.page_size, "limit": asked.page_size,
            "offset": offset, "cursor": cursor, "fields": product_fields(entity),
        }
        clauses = []
        if template.filter is not None:
            for product, value in asked.filters.items():
                clauses.append(render_value(
                    template.filter, {**api.template_context, "field": product,
                                      "value": value,
                                      "name": asked.filter_names.get(product, product)},
                    "list request filter"))
        context["filter_clauses"] = clauses
        return context

    def _template_headers(self, template: ListRequest | None, asked: _Asked, current: int,
                          cursor: Any, seen: int, entity: EntitySpec,
                          api: ApiSession) -> dict[str, str] | None:
        if template is None or not template.headers:
            return None
        context = self._template_context(entity, template, asked, current, cursor, seen, api)
        return as_header_values(without_empty(render_value(template.headers, context,
                                                           "list request headers")))

    def _send_template(self, entity: EntitySpec, op: str, template: ListRequest, path: str,
                       asked: _Asked, current: int, cursor: Any, seen: int,
                       args: dict[str, Any], api: ApiSession, timeout_s: float | None,
                       name: str) -> Exchange:
        context = self._template_context(entity, template, asked, current, cursor, seen, api)
        where = f"entities.{op} request"
        url = str(render_value(path, context, where))
        params = without_empty(render_value(template.params, context, where))
        headers = as_header_values(without_empty(render_value(template.headers, context,
                                                              where)))
        body = _without_nulls(render_value(template.body, context, where))
        return self.runner.send(entity.operation(op), api, template.method, url, args,
                                params=params or None, json=body, headers=headers or None,
                                timeout_s=timeout_s, name=name)


def _without_nulls(value: Any) -> Any:
    """A body with the keys whose value is null left out (at every level)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def list_paths(body: Any, prefix: str = "", depth: int = 2) -> list[str]:
    """Paths (dotted, JMESPath-compatible for plain keys) of the lists in a JSON answer, two
    levels deep at most: what a profile's `items_path` could point at."""
    if not isinstance(body, dict) or depth == 0:
        return []
    paths: list[str] = []
    for key, value in body.items():
        path = f"{prefix}{key}"
        if isinstance(value, list):
            paths.append(path)
        else:
            paths += list_paths(value, f"{path}.", depth - 1)
    return paths
