"""Pure mapping between crmqa's canonical model and one product's API, driven by its profile.

Canonical -> product on the way out (record fields, value names, filters, sort, pages), and
product -> canonical on the way back (records, field errors), so that suites only ever see
canonical names.
"""

from __future__ import annotations

import csv
import io
from typing import Any, cast

from crmqa.checks.paths import search_path
from crmqa.profiles.models import EntitySpec, ErrorShape, ExportSpec, Pagination, SortSpec

_ABSENT = object()


def get_dotted(record: dict[str, Any], path: str) -> Any:
    """`owner.username` in {"owner": {"username": "x"}} -> "x"; absent -> _ABSENT."""
    if "." not in path:
        return record.get(path, _ABSENT)
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return _ABSENT
        current = current[part]
    return current


def set_dotted(record: dict[str, Any], path: str, value: Any) -> None:
    if "." not in path:
        record[path] = value
        return
    parts = path.split(".")
    current = record
    for part in parts[:-1]:
        current = current.setdefault(part, {})
    current[parts[-1]] = value


class UnmappedValue(ValueError):
    """A canonical value the profile maps to null: the product has no equivalent."""


def value_out(entity: EntitySpec, field: str, value: Any) -> Any:
    """A canonical value as the product names it (`qualified` -> `Qualified`).

    Raises UnmappedValue when the profile maps the value to null (no equivalent).
    """
    mapping = entity.values.get(field)
    if mapping is None or not isinstance(value, str | int | float | bool):
        return value
    known = cast(dict[Any, Any], mapping)
    if value in known and known[value] is None:
        raise UnmappedValue(f"{field} {value!r} has no equivalent in this product")
    return known.get(value, value)


def value_in(entity: EntitySpec, field: str, value: Any) -> Any:
    mapping = entity.reverse_values.get(field)
    if mapping is None or not isinstance(value, str | int | float | bool):
        return value
    return mapping.get(value, value)


def to_product(entity: EntitySpec, record: dict[str, Any]) -> dict[str, Any]:
    """A canonical record (or partial update) in the product's field names and values."""
    out: dict[str, Any] = {}
    for field, value in record.items():
        set_dotted(out, entity.product_field(field), value_out(entity, field, value))
    return out


def to_canonical(entity: EntitySpec, record: Any) -> Any:
    """A product record in canonical names; `id` always holds the product's id field.

    Mapped fields come back under their canonical names; unmapped product fields pass through
    unchanged (unless a mapped canonical field already took the name).
    """
    if not isinstance(record, dict):
        return record
    out: dict[str, Any] = {}
    mapped_products = entity.reverse_fields
    for canonical, product in entity.fields.items():
        value = get_dotted(record, product)
        if value is not _ABSENT:
            out[canonical] = value_in(entity, canonical, value)
    for key, value in record.items():
        if key not in mapped_products and key not in out:
            out[key] = value_in(entity, key, value)
    ident = get_dotted(record, entity.id_field)
    if ident is not _ABSENT:
        out["id"] = ident
    return out


def field_errors(errors: ErrorShape, entity: EntitySpec | None, body: Any) -> dict[str, list[str]]:
    """Field errors of an error answer, keyed by canonical field names."""
    if errors.field_errors_path is None or not isinstance(body, dict | list):
        return {}
    found = search_path(errors.field_errors_path, body)
    result: dict[str, list[str]] = {}

    def add(field: Any, message: Any) -> None:
        name = str(field)
        if entity is not None:
            name = entity.reverse_fields.get(name, name)
        messages = message if isinstance(message, list) else [message]
        result.setdefault(name, []).extend(str(m) for m in messages)

    if errors.shape == "dict" and isinstance(found, dict):
        for field, message in found.items():
            add(field, message)
    elif errors.shape == "list" and isinstance(found, list):
        for item in found:
            if isinstance(item, dict) and errors.field_key in item:
                add(item[errors.field_key], item.get(errors.message_key, ""))
    return result


def filter_params(entity: EntitySpec, filters: dict[str, Any]) -> dict[str, Any]:
    """Canonical filters (`status: qualified`) as the product's query parameters."""
    params: dict[str, Any] = {}
    for field, value in filters.items():
        name = entity.list_.filters.get(field) or entity.product_field(field)
        params[name] = value_out(entity, field, value)
    return params


def sort_params(spec: SortSpec, entity: EntitySpec, sort: str) -> dict[str, str]:
    """A canonical sort (`last_name`, `-created_at`) in the product's syntax."""
    descending = sort.startswith("-")
    field = entity.product_field(sort.lstrip("-+"))
    if spec.style == "prefix":
        return {spec.param: (spec.descending_prefix + field) if descending else field}
    direction = spec.descending if descending else spec.ascending
    if spec.style == "suffix":
        return {spec.param: f"{field}{spec.separator}{direction}"}
    return {spec.param: field, spec.direction_param: direction}


def page_params(pagination: Pagination, page: int | None, page_size: int | None) -> dict[str, Any]:
    """Query parameters for one page (page/offset styles; cursor styles only set the size)."""
    params: dict[str, Any] = {}
    if page_size is not None and pagination.size_param:
        params[pagination.size_param] = page_size
    if page is None or pagination.style in ("none", "cursor", "next_link"):
        return params
    if pagination.style == "page":
        params[pagination.page_param] = pagination.first_page + (page - 1)
    elif pagination.style == "offset":
        size = page_size or pagination.default_size or 0
        if page > 1 and not size:
            raise ValueError("offset pagination needs page_size to ask for a page after the first")
        params[pagination.offset_param] = (page - 1) * size
    return params


def rows_to_csv(entity: EntitySpec, columns: list[str], rows: list[dict[str, Any]]) -> str:
    """Canonical rows as a CSV file in the product's column names, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([entity.product_field(c) for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else value_out(entity, c, row.get(c))
                         for c in columns])
    return buffer.getvalue()


def rows_from_csv(entity: EntitySpec, text: str,
                  export: ExportSpec | None = None) -> list[dict[str, Any]]:
    """An exported CSV's rows with canonical column names and values.

    With `export.columns` the headers are display labels mapped to canonical fields (other
    columns are kept under their label); `export.values` maps exported values back. A UTF-8
    byte order mark before the header is dropped.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if export is None or not export.columns:
        return [to_canonical(entity, dict(row)) for row in reader]
    by_label = {label: canonical for canonical, label in export.columns.items()}
    reverse_values = {
        field: {label: canonical for canonical, label in mapping.items() if label is not None}
        for field, mapping in export.values.items()
    }
    rows = []
    for row in reader:
        out: dict[str, Any] = {}
        for label, value in row.items():
            field = by_label.get(label, label)
            out[field] = reverse_values.get(field, {}).get(value, value)
        rows.append(out)
    return rows
