"""Pure mapping between crmqa's canonical model and one product's API, driven by its profile.

Canonical -> product on the way out (record fields, value names, composite fields, filters,
sort, pages), and product -> canonical on the way back (records, composite fields split back,
field errors), so that suites only ever see canonical names. A canonical field the product
has no equivalent for is never sent and never read back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any, cast

from crmqa.checks.paths import search_path
from crmqa.profiles.models import (
    CompositeField,
    EntitySpec,
    ErrorShape,
    ExportSpec,
    Pagination,
    SortSpec,
)
from crmqa.profiles.templates import render_value

#: What `get_dotted` answers for a path the record does not have (None is a value).
ABSENT = object()
_ABSENT = ABSENT


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


def split_related(entity: EntitySpec, record: dict[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the record's own canonical fields, {related record name: its canonical fields})."""
    own: dict[str, Any] = {}
    related: dict[str, dict[str, Any]] = {}
    for field, value in record.items():
        name = entity.related_of.get(field)
        if name is None:
            own[field] = value
        else:
            related.setdefault(name, {})[field] = value
    return own, related


def composite_gaps(entity: EntitySpec, record: dict[str, Any]) -> list[str]:
    """Canonical fields a partial update lacks to rebuild the composite fields it touches."""
    gaps: list[str] = []
    for spec in entity.composite.values():
        given = [field for field in spec.from_ if field in record]
        if given:
            gaps += [field for field in spec.from_ if field not in record]
    return gaps


def _write_composite(product: str, spec: CompositeField, record: dict[str, Any]) -> Any:
    values = {field: record.get(field) for field in spec.from_}
    value = render_value(spec.write, values, f"composite.{product}.write")
    return value.strip() if isinstance(value, str) else value


def to_product(entity: EntitySpec, record: dict[str, Any],
               current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A canonical record (or partial update) in the product's field names and values.

    Fields the product has no equivalent for are left out; fields kept on a related record
    are not this record's (see `split_related`); composite fields are built from their
    canonical parts, taking parts a partial update lacks from `current` (the record as it
    is). Raises UnmappedValue when a value is mapped to null.
    """
    out: dict[str, Any] = {}
    for field, value in record.items():
        if (not entity.has_equivalent(field) or field in entity.composite_of
                or field in entity.related_of):
            continue
        set_dotted(out, entity.product_field(field), value_out(entity, field, value))
    for product, spec in entity.composite.items():
        if any(field in record for field in spec.from_):
            parts = {**{f: (current or {}).get(f) for f in spec.from_},
                     **{f: record[f] for f in spec.from_ if f in record}}
            parts = {f: value_out(entity, f, v) for f, v in parts.items()}
            set_dotted(out, product, _write_composite(product, spec, parts))
    return out


def _read_composite(product: str, spec: CompositeField, value: Any,
                    record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.split is not None:
        match = re.search(spec.split, "" if value is None else str(value))
        if match is not None:
            out.update({name: group for name, group in match.groupdict().items()
                        if name in spec.from_})
    for field, template in spec.read.items():
        out[field] = render_value(template, {"value": value, "record": record},
                                  f"composite.{product}.read.{field}")
    return out


def to_canonical(entity: EntitySpec, record: Any) -> Any:
    """A product record in canonical names; `id` always holds the product's id field.

    Mapped fields come back under their canonical names, composite fields split back into
    theirs; unmapped product fields pass through unchanged (unless a mapped canonical field
    already took the name, or the name is a canonical field the product has no equivalent
    for).
    """
    if not isinstance(record, dict):
        return record
    # Every answer of a load goes through here: the lookups are hoisted out of the loops.
    reverse_values = entity.reverse_values
    out: dict[str, Any] = {}
    for canonical, product in entity.fields.items():
        if product is None:
            continue
        value = record.get(product, _ABSENT) if "." not in product else get_dotted(record,
                                                                                   product)
        if value is not _ABSENT:
            mapping = reverse_values.get(canonical)
            if mapping is not None and isinstance(value, str | int | float | bool):
                value = mapping.get(value, value)
            out[canonical] = value
    composite_roots = set()
    for product, spec in entity.composite.items():
        composite_roots.add(product.split(".", 1)[0])
        value = get_dotted(record, product)
        if value is not _ABSENT:
            for field, part in _read_composite(product, spec, value, record).items():
                out[field] = value_in(entity, field, part)
    mapped_products = entity.reverse_fields
    for key, value in record.items():
        if (key not in mapped_products and key not in out and key not in composite_roots
                and entity.has_equivalent(key)):
            out[key] = value_in(entity, key, value)
    ident = get_dotted(record, entity.id_field)
    if ident is not _ABSENT:
        out["id"] = ident
    return out


def canonical_field_name(errors: ErrorShape, entity: EntitySpec | None, name: str
                         ) -> list[str]:
    """The canonical field(s) an error's field name stands for.

    The profile's `errors.field_names` first, then the entity's field map (related records
    included; a composite product field stands for each of its parts), then a canonical
    name written in another case, then the last part of a nested product field
    (`firstname` for `properties.firstname`); else the name as given.
    """
    if name in errors.field_names:
        return [errors.field_names[name]]
    if entity is None:
        return [name]
    if name in entity.reverse_fields:
        return [entity.reverse_fields[name]]
    for spec in entity.related.values():
        if name in spec.reverse_fields:
            return [spec.reverse_fields[name]]
    if name in entity.composite:
        return list(entity.composite[name].from_)
    lowered = name.casefold()
    for product, canonical in entity.reverse_fields.items():
        if product.casefold() == lowered:
            return [canonical]
    # Products that keep fields inside an object (`properties.firstname`) name them in
    # errors without it (`firstname`).
    for product, canonical in entity.reverse_fields.items():
        if "." in product and product.rsplit(".", 1)[1].casefold() == lowered:
            return [canonical]
    return [name]


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def field_errors(errors: ErrorShape, entity: EntitySpec | None, body: Any) -> dict[str, list[str]]:
    """Field errors of an error answer, keyed by canonical field names.

    From the structured errors at `field_errors_path` (dict or list shape; a list entry's
    field key may hold several fields), and from `message_patterns` searched in the
    messages (at `message_path`, and each list entry's message).
    """
    if not isinstance(body, dict | list):
        return {}
    result: dict[str, list[str]] = {}

    def add(field: Any, message: Any) -> None:
        fields = field if isinstance(field, list) else [field]
        messages = message if isinstance(message, list) else [message]
        for one in fields:
            for name in canonical_field_name(errors, entity, str(one)):
                result.setdefault(name, []).extend(str(m) for m in messages)

    found = (search_path(errors.field_errors_path, body) if errors.field_errors_path
             else None)
    messages: list[str] = []
    if errors.shape == "dict" and isinstance(found, dict):
        for field, message in found.items():
            add(field, message)
    elif errors.shape == "list" and isinstance(found, list):
        for item in found:
            if not isinstance(item, dict):
                continue
            message = item.get(errors.message_key, "")
            if errors.field_key in item and item[errors.field_key] not in (None, "", []):
                add(item[errors.field_key], message)
            else:
                messages += _texts(message)
    if errors.message_patterns:
        if errors.message_path:
            messages += _texts(search_path(errors.message_path, body))
        for text in dict.fromkeys(messages):
            for pattern in errors.message_patterns:
                for match in re.finditer(pattern, text):
                    groups = match.groupdict()
                    add(groups["field"], groups.get("message") or text)
    return result


class NotSupported(ValueError):
    """A filter or sort the product cannot express for a canonical field."""


def filter_params(entity: EntitySpec, filters: dict[str, Any]) -> dict[str, Any]:
    """Canonical filters (`status: qualified`) as the product's parameters (or field names).

    Raises UnmappedValue for a value with no equivalent, NotSupported for a field the
    product cannot filter by (no equivalent, `list.filters` maps it to null, or it is part
    of a composite or related field that `list.filters` does not name).
    """
    params: dict[str, Any] = {}
    named = entity.list_.filters
    for field, value in filters.items():
        if field in named:
            name = named[field]
            if name is None:
                raise NotSupported(f"the product cannot filter by {field} "
                                   f"(list.filters.{field}: null)")
        elif not entity.has_equivalent(field):
            raise NotSupported(f"filter {field}: {entity.no_equivalent_reason(field)}")
        elif field in entity.composite_of or field in entity.related_of:
            raise NotSupported(f"the product cannot filter by {field}: it is part of "
                               f"{_kept_in(entity, field)} (name a parameter for it in "
                               "list.filters)")
        else:
            name = entity.product_field(field)
        params[name] = value_out(entity, field, value)
    return params


def _kept_in(entity: EntitySpec, field: str) -> str:
    if field in entity.composite_of:
        return f"composite field '{entity.composite_of[field]}'"
    return f"related record '{entity.related_of[field]}'"


def sort_key(spec: SortSpec, entity: EntitySpec, canonical: str) -> str:
    """The product's sort key for a canonical field; NotSupported when there is none."""
    if canonical in spec.fields:
        key = spec.fields[canonical]
        if key is None:
            raise NotSupported(f"the product cannot sort by {canonical} "
                               f"(list.sort.fields.{canonical}: null)")
        return key
    if not entity.has_equivalent(canonical):
        raise NotSupported(f"sort by {canonical}: {entity.no_equivalent_reason(canonical)}")
    if canonical in entity.composite_of or canonical in entity.related_of:
        raise NotSupported(f"the product cannot sort by {canonical}: it is part of "
                           f"{_kept_in(entity, canonical)} (name a key for it in "
                           "list.sort.fields)")
    return entity.product_field(canonical)


def sort_value(spec: SortSpec, entity: EntitySpec, sort: str) -> dict[str, Any]:
    """A canonical sort as the names a template sees: field, descending, direction,
    canonical."""
    descending = sort.startswith("-")
    canonical = sort.lstrip("-+")
    return {"field": sort_key(spec, entity, canonical), "descending": descending,
            "direction": spec.descending if descending else spec.ascending,
            "canonical": canonical}


def sort_params(spec: SortSpec, entity: EntitySpec, sort: str,
                context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A canonical sort (`last_name`, `-created_at`) in the product's syntax."""
    value = sort_value(spec, entity, sort)
    field, descending, direction = value["field"], value["descending"], value["direction"]
    if spec.style == "prefix":
        return {spec.param: (spec.descending_prefix + field) if descending else field}
    if spec.style == "suffix":
        return {spec.param: f"{field}{spec.separator}{direction}"}
    if spec.style == "template":
        assert spec.template is not None
        rendered = render_value(spec.template, {**(context or {}), **value},
                                "list.sort.template")
        return {spec.param: rendered}
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
    columns = [column for column in columns if entity.has_equivalent(column)]
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
