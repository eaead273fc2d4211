"""What a profile gets wrong that its models alone cannot see, found when it loads.

The models refuse unknown keys, wrong types, paths that do not parse and regular expressions
that do not compile. These checks look across keys: every template parses and uses only the
names its place offers, composite and related fields name canonical fields and do not
contradict the field map, a composite field can be read back, and a list request template
passes on the page or cursor its pagination walks with. Each problem is positioned in the
profile file, so `crmqa validate`, `crmqa run` and pytest collection report it before the
first request.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from crmqa.core.errors import PlanIssue
from crmqa.plan.canonical import FIELDS
from crmqa.profiles.models import (
    CALL_NAMES,
    COMPOSITE_READ_NAMES,
    FILTER_NAMES,
    LIST_NAMES,
    OPERATION_NAMES,
    EntitySpec,
    ListRequest,
    OperationSpec,
    Profile,
)
from crmqa.profiles.templates import COMMON_NAMES, names_read, template_problem, value_problems

Path = tuple[str | int, ...]
_SORT_NAMES = ("field", "descending", "direction", "canonical")
_PROBE_NAMES = ("unique",)


def profile_issues(profile: Profile) -> list[PlanIssue]:
    """Every cross-key problem of a loaded profile, positioned in its file, in file order."""
    issues = [profile.issue(message, path, suggestion=suggestion)
              for path, message, suggestion in _problems(profile)]
    return sorted(dict.fromkeys(issues), key=lambda issue: (
        (issue.position.line, issue.position.column) if issue.position else (0, 0)))


Problem = tuple[Path, str, str | None]


def _problems(profile: Profile) -> Iterator[Problem]:
    yield from _templates(profile.headers, COMMON_NAMES, ("headers",))
    yield from _templates(profile.params, COMMON_NAMES, ("params",))
    for key in ("token_url", "scope"):
        yield from _templates(getattr(profile.auth, key, None), COMMON_NAMES, ("auth", key))
    for name, entity in profile.entities.items():
        yield from _entity(name, entity, ("entities", name))
    for name, probe in profile.probe.items():
        yield from _templates(probe.model_dump(exclude_none=True), (*COMMON_NAMES,
                              *_PROBE_NAMES), ("probe", name))


def _templates(value: Any, names: tuple[str, ...], where: Path) -> Iterator[Problem]:
    yield from value_problems(value, names, where)


def _operation(spec: OperationSpec, where: Path) -> Iterator[Problem]:
    names = (*COMMON_NAMES, *OPERATION_NAMES)
    yield from _templates(spec.headers, names, (*where, "headers"))
    yield from _templates(spec.params, names, (*where, "params"))
    yield from _templates(spec.body_defaults, names, (*where, "body_defaults"))
    call_names = (*COMMON_NAMES, *CALL_NAMES)
    for index, call in enumerate(spec.calls):
        at = (*where, "calls", index)
        yield from _templates(call.path, call_names, (*at, "path"))
        yield from _templates(call.params, call_names, (*at, "params"))
        yield from _templates(call.headers, call_names, (*at, "headers"))
        yield from _templates(call.body, call_names, (*at, "body"))


def _entity(name: str, entity: EntitySpec, where: Path) -> Iterator[Problem]:
    canonical = FIELDS.get(name, ())
    for op_name, spec in entity.operations.items():
        yield from _operation(spec, (*where, "operations", op_name))
    yield from _list(entity, (*where, "list"))
    yield from _composite(entity, canonical, (*where, "composite"))
    yield from _related(entity, canonical, (*where, "related"))


def _list(entity: EntitySpec, where: Path) -> Iterator[Problem]:
    spec = entity.list_
    if spec.sort is not None and spec.sort.template:
        yield from _templates(spec.sort.template, (*COMMON_NAMES, *_SORT_NAMES),
                              (*where, "sort", "template"))
    for key in ("request", "search_request"):
        request: ListRequest | None = getattr(spec, key)
        if request is None:
            continue
        at = (*where, key)
        names = (*COMMON_NAMES, *LIST_NAMES)
        for part in ("path", "params", "headers", "body"):
            yield from _templates(getattr(request, part), names, (*at, part))
        if request.filter is not None:
            yield from _templates(request.filter, (*COMMON_NAMES, *FILTER_NAMES),
                                  (*at, "filter"))
        yield from _paging(request, spec.pagination.style, at)
    if spec.count_request is not None:
        at = (*where, "count_request")
        for part in ("path", "params", "headers", "body"):
            yield from _templates(getattr(spec.count_request, part),
                                  (*COMMON_NAMES, *LIST_NAMES), (*at, part))
        if spec.count_request.filter is not None:
            yield from _templates(spec.count_request.filter, (*COMMON_NAMES, *FILTER_NAMES),
                                  (*at, "filter"))


def _reads(value: Any) -> set[str]:
    """Names the templates inside `value` read (empty for texts without markup)."""
    found: set[str] = set()
    if isinstance(value, str):
        found |= names_read(value)
    elif isinstance(value, dict):
        for item in value.values():
            found |= _reads(item)
    elif isinstance(value, list):
        for item in value:
            found |= _reads(item)
    return found


def _paging(request: ListRequest, style: str, where: Path) -> Iterator[Problem]:
    """A template that never passes on the page or cursor could only ever ask page one."""
    wanted = {"page": ("page", "offset"), "offset": ("page", "offset"),
              "cursor": ("cursor",)}.get(style)
    if wanted is None:
        return
    read = _reads([request.path, request.params, request.headers, request.body])
    if not read & set(wanted):
        yield (where, f"pagination style '{style}' walks pages, but this request template "
               f"never uses {' or '.join(wanted)}: every page would be the first",
               f"pass `{{{{ {wanted[0]} }}}}` on, e.g. in `params` or `body`")


def _composite(entity: EntitySpec, canonical: tuple[str, ...], where: Path
               ) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for product, spec in entity.composite.items():
        at = (*where, product)
        for index, field in enumerate(spec.from_):
            if canonical and field not in canonical:
                yield ((*at, "from", index), f"'{field}' is not a canonical field of this "
                       f"entity ({', '.join(canonical)})", _suggest(field, canonical))
            if field in entity.fields:
                yield ((*at, "from", index), f"'{field}' is also in `fields`: a canonical "
                       "field is either mapped or part of a composite field, not both", None)
            if field in seen:
                yield ((*at, "from", index), f"'{field}' is already part of composite field "
                       f"'{seen[field]}'", None)
            seen[field] = product
        problem = template_problem(spec.write, spec.from_)
        if problem is not None:
            yield (*at, "write"), problem[0], problem[1]
        covered: set[str] = set(spec.read)
        if spec.split is not None:
            groups = set(re.compile(spec.split).groupindex)
            for group in sorted(groups - set(spec.from_)):
                yield ((*at, "split"), f"group '{group}' is not one of the `from` fields "
                       f"({', '.join(spec.from_)})", _suggest(group, spec.from_))
            covered |= groups
        for field in spec.read:
            if field not in spec.from_:
                yield ((*at, "read", field), f"'{field}' is not one of the `from` fields "
                       f"({', '.join(spec.from_)})", _suggest(field, spec.from_))
        for field, text in spec.read.items():
            problem = template_problem(text, COMPOSITE_READ_NAMES)
            if problem is not None:
                yield (*at, "read", field), problem[0], problem[1]
        missing = [field for field in spec.from_ if field not in covered]
        if missing:
            yield (at, f"composite field '{product}' cannot give back {', '.join(missing)} "
                   "when read: a record read back would lack it",
                   "add `split` (a regular expression with a named group per field) or "
                   "`read` (field -> template)")


def _related(entity: EntitySpec, canonical: tuple[str, ...], where: Path
             ) -> Iterator[Problem]:
    owner: dict[str, str] = {}
    for name, spec in entity.related.items():
        at = (*where, name)
        for field in spec.fields:
            if canonical and field not in canonical:
                yield ((*at, "fields", field), f"'{field}' is not a canonical field of this "
                       f"entity ({', '.join(canonical)})", _suggest(field, canonical))
            if field in entity.fields or field in entity.composite_of:
                yield ((*at, "fields", field), f"'{field}' is also mapped on the record "
                       "itself: a field is kept on one record", None)
            if field in owner:
                yield ((*at, "fields", field), f"'{field}' is already kept on related record "
                       f"'{owner[field]}'", None)
            owner[field] = name
        for op_name, op in spec.operations.items():
            yield from _operation(op, (*at, "operations", op_name))
            if op.calls or op.read_back:
                yield ((*at, "operations", op_name), "a related record's operations take "
                       "one call each (no `calls`, no `read_back`)", None)


def _suggest(word: str, known: tuple[str, ...] | list[str]) -> str | None:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean '{close[0]}'?" if close else None
