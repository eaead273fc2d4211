"""The canonical fields a canonical operation step needs from the target (`field:lead.email`).

A step needs a field when it filters or sorts on it, reads it back (`expect.record`,
`expect.field_errors`, a body check or a saved value on `record.<field>`, `records[..].<field>`
or `rows[..].<field>`), or, in the case's own steps, writes it. A field written only by a
setup or teardown step is not needed: it is scaffolding, and a product without it simply does
not get it (the driver keeps it out of the request). The engine makes a case whose steps need
a field the profile has no equivalent for not applicable, with the profile's reason, before
anything is sent; the API driver applies the same reading to a step rendered at run time.

Only what is written out can be read here; names that templates produce are judged when the
step runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from crmqa.plan.models import OpStep
from crmqa.plan.templating import has_template
from crmqa.profiles.capabilities import field_capability

# record.email, records[0].email, records[*].email, rows[0].first_name
_FIELD_PATH = re.compile(r"^(?:record|(?:records|rows)\[[^\]]*\])\.([A-Za-z_][A-Za-z0-9_]*)")
_WRITING = frozenset({"create", "update", "convert", "import"})


def _plain_names(names: Any) -> Iterator[str]:
    for name in names:
        if isinstance(name, str) and name and not has_template(name):
            yield name


def _read_by_path(path: Any) -> str | None:
    if not isinstance(path, str) or has_template(path):
        return None
    match = _FIELD_PATH.match(path.strip())
    return match.group(1) if match else None


def fields_read(step: OpStep) -> list[str]:
    """Canonical fields the step filters or sorts on, or reads back."""
    args = step.with_
    found: list[str] = []
    filters = args.get("filters")
    if isinstance(filters, dict):
        found += _plain_names(filters)
    sort = args.get("sort")
    if isinstance(sort, str) and sort and not has_template(sort):
        found.append(sort.lstrip("-+"))
    expect = step.expect
    if expect.record:
        found += _plain_names(expect.record)
    if expect.field_errors:
        found += _plain_names(expect.field_errors)
    for check in expect.body:
        name = _read_by_path(getattr(check, "path", None))
        if name:
            found.append(name)
    for path in step.save.values():
        name = _read_by_path(path)
        if name:
            found.append(name)
    return [name for name in dict.fromkeys(found) if name != "id"]


def fields_written(step: OpStep) -> list[str]:
    """Canonical fields the step writes (`data` keys, import `rows` keys)."""
    operation = step.op.split(".", 1)[1]
    if operation not in _WRITING:
        return []
    args = step.with_
    found: list[str] = []
    data = args.get("data")
    if isinstance(data, dict):
        found += _plain_names(data)
    rows = args.get("rows")
    if isinstance(rows, list):
        for row in rows:
            if isinstance(row, dict):
                found += _plain_names(row)
    return [name for name in dict.fromkeys(found) if name != "id"]


def field_needs(step: OpStep, phase: str = "step") -> list[str]:
    """`field:<entity>.<field>` for each field the step needs (see the module's docstring).

    `phase` is `setup`, `step` or `teardown`; writes count only in `step`.
    """
    entity = step.op.split(".", 1)[0]
    names = fields_read(step)
    if phase == "step":
        names += fields_written(step)
    return [field_capability(entity, name) for name in dict.fromkeys(names)]
