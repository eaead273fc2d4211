"""Write, then read the whole record back: every field, not only the one written.

For every covered entity:
- create: a record with every writable field given; the answer and a fresh read must both
  hold every value; timestamp fields (format: datetime) must carry a time zone;
- update of one field, for each writable field: the field takes its new value and every other
  field keeps the value it had before the update (a CRM that clears or resets a field the
  request did not name fails here), the creation time included;
- import: rows with values CSV must quote (commas, quotes, a line break) and non-Latin text,
  each read back field by field, and the count of imported rows;
- convert (entities the canonical model converts, i.e. leads): the new records carry the
  converted record's values (contact names and e-mail, account name from the company...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from crmqa.plan.canonical import CONVERSION, CONVERSION_IDS
from crmqa.plan.generators.context import FieldView, GenerationContext
from crmqa.plan.generators.registry import Generator, register_generator
from crmqa.plan.generators.writing import CaseDefaults, case, check, op, saved
from crmqa.plan.models import Strict

__all__ = ["ISO_TIMESTAMP", "ReadBackSection"]

PREFIX = "GEN-READ"
#: ISO 8601 date and time with a time-zone designator (Z or an offset).
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$"
_WRITES = ("create", "update", "import", "convert", "export")


class ConvertSpec(Strict):
    """How a conversion is set up and what it must carry over."""

    entity: str = Field("lead", description="the entity that is converted")
    data: dict[str, Any] = Field(
        default_factory=lambda: {"status": "qualified"},
        description="values the record needs before it may be converted",
    )
    carries: dict[str, dict[str, str]] | None = Field(
        None, description="new entity -> {its field: converted record's field}; default: the "
        "canonical model's (contact names, e-mail, phone and title; account name from company)",
    )


class ReadBackSection(CaseDefaults):
    """Write-then-read-back of whole records after every write operation."""

    operations: list[str] = Field(
        default_factory=lambda: list(_WRITES),
        description="which operations to check: create, update, import, convert, and "
        "export (a record's values come out of the export as written)",
    )
    convert: ConvertSpec = Field(default_factory=lambda: ConvertSpec(),
                                 description="conversion set-up and carried fields")


def _field_checks(views: list[FieldView], values: dict[str, Any], where: str
                  ) -> list[dict[str, Any]]:
    return [check(f"{where}.{view.name}", "equals", values[view.name],
                  ignore_case=view.kind == "email")
            for view in views if view.name in values]


def _timestamp_checks(context: GenerationContext, entity: str, where: str
                      ) -> list[dict[str, Any]]:
    return [check(f"{where}.{view.name}", "matches", ISO_TIMESTAMP)
            for view in context.fields(entity) if view.kind == "datetime"]


def generate(context: GenerationContext, section: ReadBackSection
             ) -> Iterator[dict[str, Any]]:
    """The read-back cases of every covered entity."""
    for entity in context.entities:
        if not section.wants(entity) or not context.writable(entity):
            continue
        if "create" in section.operations:
            yield _create(context, section, entity)
        if "update" in section.operations:
            for view in context.writable(entity):
                yield _update(context, section, entity, view)
        if "import" in section.operations:
            yield _import(context, section, entity)
        if "export" in section.operations:
            yield _export(context, section, entity)
        if "convert" in section.operations and entity == section.convert.entity:
            yield from _convert(context, section, entity)


def _create(context: GenerationContext, section: ReadBackSection, entity: str
            ) -> dict[str, Any]:
    views = context.writable(entity)
    values = context.full_record(entity, "a")
    steps = [
        op(f"{entity}.create", {"data": values}, name="create with every field given",
           expect={"outcome": "ok", "body": [*_field_checks(views, values, "record"),
                                             *_timestamp_checks(context, entity, "record")]},
           save={"record_id": "record.id"}, keep_going=True),
        op(f"{entity}.get", {"id": saved("record_id")}, name="read every field back",
           expect={"outcome": "ok", "body": [*_field_checks(views, values, "record"),
                                             *_timestamp_checks(context, entity, "record")]}),
    ]
    return case(section, PREFIX, [entity, "create"],
                f"{entity}: a created record reads back with every field as written",
                module=context.module(entity), steps=steps, tags=["read-back", "create"])


def _update(context: GenerationContext, section: ReadBackSection, entity: str,
            view: FieldView) -> dict[str, Any]:
    values = context.full_record(entity, "a")
    new_value = view.other_value("b")
    keep = [other for other in context.fields(entity)
            if other.name not in (view.name, "updated_at", "id")]
    unchanged = [check(f"record.{other.name}", "equals",
                       "{{ saved.before." + other.name + " | default(none) }}",
                       ignore_case=other.kind == "email")
                 for other in keep]
    steps = [
        op(f"{entity}.get", {"id": saved("record_id")}, name="read the record before",
           expect={"outcome": "ok"}, save={"before": "record"}),
        op(f"{entity}.update", {"id": saved("record_id"), "data": {view.name: new_value}},
           name=f"change only {view.name}", expect={"outcome": "ok"}),
        op(f"{entity}.get", {"id": saved("record_id")},
           name=f"{view.name} changed, every other field as before",
           expect={"outcome": "ok", "body": [
               check(f"record.{view.name}", "equals", new_value,
                     ignore_case=view.kind == "email"),
               check("record.id", "equals", "{{ saved.before.id }}"),
               *unchanged,
               *_timestamp_checks(context, entity, "record"),
           ]}),
    ]
    setup = [op(f"{entity}.create", {"data": values}, name="create with every field given",
                expect={"outcome": "ok"}, save={"record_id": "record.id"})]
    return case(section, PREFIX, [entity, "update", view.name],
                f"{entity}: changing only {view.name} leaves every other field as it was",
                module=context.module(entity), setup=setup, steps=steps,
                tags=["read-back", "update", f"field:{entity}.{view.name}"])


# Values an import must carry intact: CSV quoting (comma, quote, line break) and scripts.
_IMPORT_TEXT = ("Smith, Jones & \"Partners\"", "Zoë Ångström", "Иванова Мария", "山田太郎")


def _special_texts(context: GenerationContext, entity: str, row: dict[str, Any],
                   index: int) -> dict[str, Any]:
    """`row` with its text fields (all but the marker and unique ones) holding values that
    need CSV quoting or are non-Latin; a `notes` field of the first row gets a line break."""
    marker = context.marker_field(entity)
    texts = [v for v in context.writable(entity) if v.kind == "text" and marker is not None
             and v.name != marker.name and not v.rule.unique and v.name in row]
    row = dict(row)
    for offset, text_view in enumerate(texts):
        sample = _IMPORT_TEXT[(index + offset) % len(_IMPORT_TEXT)]
        limit = text_view.rule.max_length
        row[text_view.name] = sample if limit is None else sample[:limit]
    if "notes" in row and index == 0:
        row["notes"] = "first line\nsecond line"
    return row


def _import(context: GenerationContext, section: ReadBackSection, entity: str
            ) -> dict[str, Any]:
    views = context.writable(entity)
    marker = context.marker_field(entity)
    rows = [_special_texts(context, entity, context.full_record(entity, f"i{tag}"), index)
            for index, tag in enumerate("abc")]
    steps: list[dict[str, Any]] = [
        op(f"{entity}.import", {"rows": rows}, name=f"import {len(rows)} rows",
           expect={"outcome": "ok", "body": [check("imported", "equals", len(rows)),
                                             check("rejected", "length", 0)]},
           keep_going=True),
    ]
    if marker is not None:
        for index, row in enumerate(rows, start=1):
            steps.append(op(f"{entity}.search", {"query": row[marker.name]},
                            name=f"find imported row {index}",
                            expect={"outcome": "ok", "count": 1},
                            save={f"row{index}": "records[0].id"}, keep_going=True))
            steps.append(op(f"{entity}.get", {"id": saved(f"row{index}")},
                            name=f"imported row {index} reads back field by field",
                            expect={"outcome": "ok",
                                    "body": _field_checks(views, row, "record")},
                            keep_going=True))
    return case(section, PREFIX, [entity, "import"],
                f"{entity}: imported rows read back with every value intact (CSV quoting, "
                "line breaks, non-Latin text)",
                module=context.module(entity), steps=steps, tags=["read-back", "import"])


def _export(context: GenerationContext, section: ReadBackSection, entity: str
            ) -> dict[str, Any]:
    views = context.writable(entity)
    marker = context.marker_field(entity)
    values = _special_texts(context, entity, context.full_record(entity, "e"), 1)
    steps = [op(f"{entity}.export", {"query": values[marker.name] if marker else "{{ unique }}"},
                name="export the record",
                expect={"outcome": "ok", "body": [
                    check("rows", "length", 1), *_field_checks(views, values, "rows[0]")]})]
    setup = [op(f"{entity}.create", {"data": values}, name="create with every field given",
                expect={"outcome": "ok"})]
    return case(section, PREFIX, [entity, "export"],
                f"{entity}: an exported record carries every field as written (CSV quoting, "
                "non-Latin text)",
                module=context.module(entity), setup=setup, steps=steps,
                tags=["read-back", "export"])


def _convert(context: GenerationContext, section: ReadBackSection, entity: str
             ) -> Iterator[dict[str, Any]]:
    spec = section.convert
    carries = spec.carries if spec.carries is not None else CONVERSION.get(entity, {})
    if not carries:
        return
    values = context.full_record(entity, "v", overrides=spec.data)
    setup = [op(f"{entity}.create", {"data": values}, name="create a record ready to convert",
                expect={"outcome": "ok"}, save={"record_id": "record.id", "source": "record"})]
    save = {f"{made}_id": f"record.{CONVERSION_IDS.get(made, made + '_id')}"
            for made in carries}
    steps: list[dict[str, Any]] = [
        op(f"{entity}.convert", {"id": saved("record_id")}, name="convert it",
           expect={"outcome": "ok"}, save=save),
    ]
    for made, mapping in carries.items():
        body = [check(f"record.{target}", "equals",
                      "{{ saved.source." + source + " | default(none) }}",
                      ignore_case=target == "email")
                for target, source in mapping.items()]
        steps.append(op(f"{made}.get", {"id": saved(f"{made}_id")},
                        name=f"the new {made} carries the {entity}'s values",
                        expect={"outcome": "ok", "body": body}, keep_going=True))
    yield case(section, PREFIX, [entity, "convert"],
               f"{entity}: converting makes {', '.join(carries)} that carry its values",
               module=context.module(entity), setup=setup, steps=steps,
               tags=["read-back", "convert"])


register_generator(Generator(
    key="read_back",
    section=ReadBackSection,
    generate=generate,
    summary="write-then-read-back of whole records after create, update, import and convert",
))
