"""Lists and search: properties every CRM list must keep, from the fields the plan marks
`searchable`, `filterable` and `sortable` in its requirements.

Every case makes its own records, all carrying the case run's `{{ unique }}` token in a
searchable field, and searches for that token: the records under test are then exactly the
case's own, whatever else the CRM holds. Per entity:

- search finds a record by each searchable field, and by letter-case variants (lower, upper)
  of text in several scripts (Latin with accents, Cyrillic, Greek: case folding beyond ASCII);
- each filter alone, every value: exactly the matching records, with the right total;
- filters in pairwise combinations (an all-pairs covering array from `allpairspy` over each
  filter's values plus "not filtered"): exactly the records matching all filters given;
- sort on every sortable field, both ways: the order of known values, and the descending
  order being the ascending one reversed;
- pagination: no record on two pages, none missing, every page reporting the same total,
  the union of the pages equal to the whole list, and a page past the end empty;
- a deleted record is gone from get, search, every filter and the export.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from allpairspy import AllPairs
from pydantic import Field

from crmqa.plan.generators.context import FieldView, GenerationContext
from crmqa.plan.generators.problems import GenerationProblem
from crmqa.plan.generators.registry import Generator, register_generator
from crmqa.plan.generators.writing import CaseDefaults, case, check, op, saved

__all__ = ["ListsSection", "filter_combinations"]

PREFIX = "GEN-LIST"
UNIQUE = "{{ unique }}"
#: Words whose upper and lower case differ, one per script (outside ASCII the naive
#: case folding of many databases fails), and one with an apostrophe (quoting in queries).
SCRIPT_WORDS: dict[str, str] = {
    "ascii": "Quentin", "latin": "Émilie", "cyrillic": "Жанна", "greek": "Αθηνά",
    "apostrophe": "D'Arcy",
}
_SORTABLE_KINDS = frozenset({"text", "email", "number", "date", "choice"})


class ListsSection(CaseDefaults):
    """Search, filters, sorting, pagination and deletion properties of entity lists."""

    search: bool = Field(True, description="search finds a record by each searchable field")
    scripts: list[str] = Field(
        default_factory=lambda: list(SCRIPT_WORDS),
        description=f"scripts whose letter-case variants search must match "
        f"({', '.join(SCRIPT_WORDS)}); [] for none",
    )
    filters: bool = Field(True, description="each filter alone, with totals")
    pairwise: bool = Field(True, description="filters in pairwise combinations")
    filter_values: dict[str, list[str]] = Field(
        default_factory=dict,
        description="entity.field -> the values to filter by (default: the first three of "
        "the field's choices)",
    )
    sort: bool = Field(True, description="sort on every sortable field, both ways")
    pagination: bool = Field(True, description="page invariants")
    page_size: int = Field(2, ge=1, le=50, description="page size the pagination case uses")
    records: int = Field(5, ge=2, le=50, description="records the pagination case makes")
    deleted: bool = Field(True, description="a deleted record is gone from every listing")


def filter_combinations(domains: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """A pairwise covering array over `domains` (every pair of values of any two parameters
    appears in some row), from allpairspy; one parameter gives its values as rows."""
    if len(domains) == 1:
        return [[value] for value in domains[0]]
    return [list(row) for row in AllPairs([list(domain) for domain in domains])]


def generate(context: GenerationContext, section: ListsSection) -> Iterator[dict[str, Any]]:
    """The list and search cases of every covered entity with searchable fields."""
    for entity in context.entities:
        if not section.wants(entity):
            continue
        views = context.writable(entity)
        searchable = [v for v in views if v.rule.searchable]
        if not searchable or context.marker_field(entity) is None:
            continue  # no way to single out a case's own records
        if section.search:
            for view in searchable:
                yield _search_by(context, section, view)
                if view.kind == "text":
                    for script in section.scripts:
                        yield _case_variants(context, section, view, script)
        filterable = [(v, _filter_values(context, section, v))
                      for v in context.fields(entity) if v.rule.filterable]
        if section.filters:
            for view, values in filterable:
                yield _filter_alone(context, section, view, values)
        if section.pairwise and len(filterable) >= 2:
            yield _filter_pairs(context, section, entity, filterable)
        if section.sort:
            for view in views:
                if view.rule.sortable and view.kind in _SORTABLE_KINDS:
                    yield _sort(context, section, view)
        if section.pagination:
            yield _pages(context, section, entity)
        if section.deleted:
            yield _deleted(context, section, entity, filterable)
            yield _deleted_export(context, section, entity)


def _filter_values(context: GenerationContext, section: ListsSection, view: FieldView
                   ) -> list[str]:
    key = f"{view.entity}.{view.name}"
    values = section.filter_values.get(key) or (view.rule.choices or [])[:3]
    if len(values) < 2:
        raise GenerationProblem(
            f"{key} is filterable but has fewer than two values to filter by: give its "
            f"choices in requirements, or lists.filter_values['{key}']",
            ("filter_values",))
    return list(values)


def _create(entity: str, values: dict[str, Any], save_as: str, name: str) -> dict[str, Any]:
    return op(f"{entity}.create", {"data": values}, name=name, expect={"outcome": "ok"},
              save={save_as: "record.id"})


def _search(entity: str, query: str, *, name: str, expect: dict[str, Any],
            filters: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
            save: dict[str, str] | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"query": query}
    if filters:
        args["filters"] = filters
    args.update(extra or {})
    return op(f"{entity}.search", args, name=name, expect={"outcome": "ok", **expect},
              save=save, keep_going=True)


def _ids(names: Sequence[str]) -> str:
    """A template for the sorted list of saved ids (compared with `sort(records[*].id)`)."""
    return "{{ [" + ", ".join(f"saved.{n}" for n in names) + "] | sort }}"


def _search_by(context: GenerationContext, section: ListsSection, view: FieldView
               ) -> dict[str, Any]:
    entity = view.entity
    value = (f"find-{UNIQUE}@example.com" if view.kind == "email"
             else f"Find{view.camel}-{UNIQUE}")
    record = {**context.required_record(entity, "a"), view.name: value}
    steps = [
        _search(entity, value, name=f"search for the {view.name}",
                expect={"count": 1, "total": 1,
                        "body": [check("records[0].id", "equals", saved("record_id"))]}),
    ]
    return case(section, PREFIX, [entity, "search", view.name],
                f"{entity} search finds a record by its {view.name}",
                module=context.module(entity),
                setup=[_create(entity, record, "record_id", "create the record")],
                steps=steps, tags=["search", f"field:{entity}.{view.name}"])


def _case_variants(context: GenerationContext, section: ListsSection, view: FieldView,
                   script: str) -> dict[str, Any]:
    entity = view.entity
    word = SCRIPT_WORDS.get(script)
    if word is None:
        raise GenerationProblem(f"unknown script '{script}' (known: {', '.join(SCRIPT_WORDS)})",
                                ("scripts",))
    value = f"{word}-{UNIQUE}"
    record = {**context.required_record(entity, "a"), view.name: value}
    quote = '"' if "'" in word else "'"
    expression = quote + word + "-" + quote + " ~ unique"
    steps = [
        _search(entity, "{{ (" + expression + ") | " + variant + " }}",
                name=f"search in {variant} case",
                expect={"body": [check("records[*].id", "contains", saved("record_id"))]})
        for variant in ("lower", "upper")
    ]
    return case(section, PREFIX, [entity, "search", view.name, f"case-{script}"],
                f"{entity} search by {view.name} ignores letter case ({script} text)",
                module=context.module(entity),
                setup=[_create(entity, record, "record_id", f"create a record with {word}")],
                steps=steps, tags=["search", "i18n", f"field:{entity}.{view.name}"])


def _records_with(context: GenerationContext, entity: str, rows: Sequence[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """Create steps for records with the given field values (saved as r1, r2, ...)."""
    steps = []
    for index, values in enumerate(rows, start=1):
        record = {**context.required_record(entity, f"r{index}"), **values}
        shown = ", ".join(f"{k}={v}" for k, v in values.items()) or "defaults"
        steps.append(_create(entity, record, f"r{index}", f"create record {index} ({shown})"))
    return steps


def _expect_exactly(names: Sequence[str]) -> dict[str, Any]:
    return {"count": len(names), "total": len(names),
            "body": [check("sort(records[*].id)", "equals", _ids(names))] if names else []}


def _filter_alone(context: GenerationContext, section: ListsSection, view: FieldView,
                  values: list[str]) -> dict[str, Any]:
    entity = view.entity
    rows = [{view.name: value} for value in values]
    steps = []
    for value in values:
        names = [f"r{i}" for i, row in enumerate(rows, start=1) if row[view.name] == value]
        steps.append(_search(entity, UNIQUE, filters={view.name: value},
                             name=f"filter {view.name} = {value}",
                             expect=_expect_exactly(names)))
    return case(section, PREFIX, [entity, "filter", view.name],
                f"{entity} list filtered by {view.name} holds exactly the matching records, "
                "with the right total",
                module=context.module(entity), setup=_records_with(context, entity, rows),
                steps=steps, tags=["filter", f"field:{entity}.{view.name}"])


def _filter_pairs(context: GenerationContext, section: ListsSection, entity: str,
                  filterable: list[tuple[FieldView, list[str]]]) -> dict[str, Any]:
    names = [view.name for view, _ in filterable]
    rows = [dict(zip(names, row, strict=True))
            for row in filter_combinations([values for _, values in filterable])]
    queries = filter_combinations([[*values, None] for _, values in filterable])
    steps = []
    for query in queries:
        filters = {name: value for name, value in zip(names, query, strict=True)
                   if value is not None}
        matching = [f"r{i}" for i, row in enumerate(rows, start=1)
                    if all(row[name] == value for name, value in filters.items())]
        shown = ", ".join(f"{k} = {v}" for k, v in filters.items()) or "no filter"
        steps.append(_search(entity, UNIQUE, filters=filters or None, name=shown,
                             expect=_expect_exactly(matching),
                             extra={"page_size": max(len(rows), 1)}))
    return case(section, PREFIX, [entity, "filter", "pairwise"],
                f"{entity} list filters combined pairwise ({', '.join(names)}) hold exactly "
                "the matching records",
                module=context.module(entity), setup=_records_with(context, entity, rows),
                steps=steps, tags=["filter", "pairwise"],
                description=f"{len(rows)} records cover every pair of filter values; "
                f"{len(queries)} searches cover every pair of filters given or not "
                "(an all-pairs covering array).")


def _sort_values(view: FieldView) -> list[Any]:
    """Three values in ascending order (numbers chosen so text order would differ)."""
    kind, rule = view.kind, view.rule
    if kind == "email":
        return [f"{letter}-{UNIQUE}@example.com" for letter in "abc"]
    if kind == "number":
        base = rule.minimum if rule.minimum is not None else 0
        values = [base + 9, base + 10, base + 100]
        if rule.maximum is not None and values[-1] > rule.maximum:
            values = [base, base + (rule.maximum - base) / 2, rule.maximum]
        return [int(v) if float(v).is_integer() else v for v in values]
    if kind == "date":
        return ["2024-03-05", "2025-01-10", "2025-11-30"]
    if kind == "choice":
        return list((rule.choices or [])[:3])
    limit = rule.max_length
    if limit is None or limit >= 34:
        return [f"Sort{letter}-{UNIQUE}" for letter in "ABC"]
    return [f"Sort{letter}"[:limit] for letter in "ABC"]


def _sort(context: GenerationContext, section: ListsSection, view: FieldView
          ) -> dict[str, Any]:
    entity, name = view.entity, view.name
    values = _sort_values(view)
    order = [1, 2, 0][: len(values)]  # created out of order
    rows = [{name: values[i]} for i in order if i < len(values)]
    # r1 holds values[1], r2 values[2], r3 values[0]
    ascending_ids = [f"r{order.index(i) + 1}" for i in range(len(values))]
    known_order = view.kind != "choice"  # choices may sort by label or position
    ascending: dict[str, Any] = {"count": len(values)}
    descending: dict[str, Any] = {"count": len(values)}
    body_up = [check("records[*].id", "equals",
                     "{{ [" + ", ".join(f"saved.{n}" for n in ascending_ids) + "] }}")]
    body_down = [check("reverse(records[*].id)", "equals", "{{ saved.ascending }}")]
    if known_order:
        body_up.append(check(f"records[*].{name}", "equals", values,
                             ignore_case=view.kind == "email"))
        body_down.append(check(f"records[*].{name}", "equals", list(reversed(values)),
                               ignore_case=view.kind == "email"))
    else:
        body_up = []
    ascending["body"] = body_up
    descending["body"] = body_down
    steps = [
        _search(entity, UNIQUE, name=f"sort by {name} ascending", expect=ascending,
                extra={"sort": name}, save={"ascending": "records[*].id"}),
        _search(entity, UNIQUE, name=f"sort by {name} descending", expect=descending,
                extra={"sort": f"-{name}"}),
    ]
    return case(section, PREFIX, [entity, "sort", name],
                f"{entity} list sorts by {name} both ways",
                module=context.module(entity), setup=_records_with(context, entity, rows),
                steps=steps, tags=["sort", f"field:{entity}.{name}"])


def _pages(context: GenerationContext, section: ListsSection, entity: str) -> dict[str, Any]:
    total, size = section.records, section.page_size
    pages = -(-total // size)
    setup = _records_with(context, entity, [{} for _ in range(total)])
    steps = []
    for page in range(1, pages + 2):
        count = max(0, min(size, total - (page - 1) * size))
        expect: dict[str, Any] = {"count": count, "total": total}
        if page > 1:
            expect["body"] = [check("records[*].id", "not_contains",
                                    "{{ saved.page" + str(earlier) + "[" + str(i) + "] }}")
                              for earlier in range(1, page)
                              for i in range(min(size, total - (earlier - 1) * size))
                              ] if count else []
        steps.append(_search(entity, UNIQUE, name=f"page {page} of {size}",
                             extra={"page": page, "page_size": size}, expect=expect,
                             save={f"page{page}": "records[*].id"}))
    union = " + ".join(f"saved.page{page}" for page in range(1, pages + 1))
    everything = [f"r{i}" for i in range(1, total + 1)]
    steps.append(_search(entity, UNIQUE, name="the pages together are the whole list",
                         extra={"page_size": max(total, size)},
                         expect={"count": total, "total": total, "body": [
                             check("sort(records[*].id)", "equals", _ids(everything)),
                             check("sort(records[*].id)", "equals",
                                   "{{ (" + union + ") | sort }}"),
                         ]}))
    return case(section, PREFIX, [entity, "pages"],
                f"{entity} list pages: no record twice, none missing, the same total on "
                "every page",
                module=context.module(entity), setup=setup, steps=steps,
                tags=["pagination"])


def _deleted(context: GenerationContext, section: ListsSection, entity: str,
             filterable: list[tuple[FieldView, list[str]]]) -> dict[str, Any]:
    record = {view.name: values[0] for view, values in filterable
              if view.writable or view.name == "owner"}
    setup = _records_with(context, entity, [record, record])
    steps: list[dict[str, Any]] = [
        op(f"{entity}.delete", {"id": saved("r1")}, name="delete record 1",
           expect={"outcome": "ok"}),
        op(f"{entity}.get", {"id": saved("r1")}, name="it cannot be read",
           expect={"outcome": "not_found"}, keep_going=True),
        _search(entity, UNIQUE, name="search does not find it",
                expect={"count": 1, "total": 1,
                        "body": [check("records[*].id", "not_contains", saved("r1"))]}),
    ]
    for view, values in filterable:
        steps.append(_search(entity, UNIQUE, filters={view.name: values[0]},
                             name=f"filtered by {view.name} = {values[0]}, it is not listed",
                             expect={"count": 1, "total": 1, "body": [
                                 check("records[*].id", "not_contains", saved("r1"))]}))
    steps.append(op(f"{entity}.list", {}, name="the plain list does not show it",
                    expect={"outcome": "ok",
                            "body": [check("records[*].id", "not_contains", saved("r1"))]},
                    keep_going=True))
    return case(section, PREFIX, [entity, "deleted"],
                f"{entity}: a deleted record is gone from get, search, filters and lists",
                module=context.module(entity), setup=setup, steps=steps,
                tags=["delete", "search", "filter"])


def _deleted_export(context: GenerationContext, section: ListsSection, entity: str
                    ) -> dict[str, Any]:
    marker = context.marker_field(entity)
    assert marker is not None  # callers check
    gone, kept = f"Gone-{UNIQUE}", f"Kept-{UNIQUE}"
    setup = [
        _create(entity, {**context.required_record(entity, "a"), marker.name: gone}, "gone",
                "create the record to delete"),
        _create(entity, {**context.required_record(entity, "b"), marker.name: kept}, "kept",
                "create a record to keep"),
        op(f"{entity}.delete", {"id": saved("gone")}, name="delete the first",
           expect={"outcome": "ok"}),
    ]
    steps = [op(f"{entity}.export", {"query": UNIQUE}, name="export the case's records",
                expect={"outcome": "ok", "body": [
                    check(f"rows[*].{marker.name}", "contains", kept),
                    check(f"rows[*].{marker.name}", "not_contains", gone),
                ]})]
    return case(section, PREFIX, [entity, "deleted", "export"],
                f"{entity}: a deleted record is not exported",
                module=context.module(entity), setup=setup, steps=steps,
                tags=["delete", "export"])


register_generator(Generator(
    key="lists",
    section=ListsSection,
    generate=generate,
    summary="search, filters (alone and pairwise), sorting, pagination and deleted records",
))
