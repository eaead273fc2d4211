"""Small builders for generated cases: they write the same mappings a person writes in YAML.

Keeping generated cases in the written shape means one model validates them, one set of
rules checks them, and `crmqa expand` prints them as a plan author would have written them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from crmqa.plan.generators.registry import SectionBase

__all__ = [
    "CaseDefaults",
    "case",
    "case_id",
    "check",
    "op",
    "refused",
]

Step = dict[str, Any]

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


class CaseDefaults(SectionBase):
    """Settings every built-in generator section shares."""

    entities: list[str] | None = Field(
        None, description="only these entities (default: every entity the section can use)"
    )
    id_prefix: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="start of every generated case id (default: GEN-<GENERATOR>)",
    )
    severity: str = Field("normal", description="severity of the generated cases")
    priority: str = Field("medium", description="priority of the generated cases")
    tags: list[str] = Field(default_factory=list, description="extra tags on every case")
    requirements: list[str] = Field(
        default_factory=list, description="requirement ids every generated case links to"
    )

    def wants(self, entity: str) -> bool:
        """True when the section covers `entity`."""
        return self.entities is None or entity in self.entities


def case_id(prefix: str, *parts: object) -> str:
    """A stable, readable case id: `GEN-FIELD-lead-first_name-max`."""
    text = "-".join([prefix, *(str(part) for part in parts if part not in (None, ""))])
    return _ID_UNSAFE.sub("_", text)


def case(
    section: CaseDefaults,
    default_prefix: str,
    parts: Iterable[object],
    title: str,
    *,
    module: str,
    steps: list[Step],
    setup: list[Step] | None = None,
    teardown: list[Step] | None = None,
    category: str = "functional",
    tags: Iterable[str] = (),
    description: str | None = None,
    severity: str | None = None,
) -> dict[str, Any]:
    """One generated case, carrying the section's severity, priority, tags and links."""
    raw: dict[str, Any] = {
        "id": case_id(section.id_prefix or default_prefix, *parts),
        "title": title,
        "category": category,
        "module": module,
        "severity": severity or section.severity,
        "priority": section.priority,
        "tags": list(dict.fromkeys(["generated", *tags, *section.tags])),
    }
    if section.requirements:
        raw["requirements"] = list(section.requirements)
    if description:
        raw["description"] = description
    if setup:
        raw["setup"] = setup
    raw["steps"] = steps
    if teardown:
        raw["teardown"] = teardown
    return raw


def op(
    operation: str,
    with_: Mapping[str, Any] | None = None,
    *,
    expect: Mapping[str, Any] | None = None,
    save: Mapping[str, str] | None = None,
    as_: str | None = None,
    name: str | None = None,
    keep_going: bool = False,
) -> Step:
    """A canonical operation step (`lead.create`), as YAML writes it."""
    step: Step = {}
    if name:
        step["name"] = name
    step["op"] = operation
    if with_:
        step["with"] = dict(with_)
    if as_:
        step["as"] = as_
    if expect:
        step["expect"] = dict(expect)
    if save:
        step["save"] = dict(save)
    if keep_going:
        step["continue_on_failure"] = True
    return step


def check(path: str, comparison: str, value: Any, *, ignore_case: bool = False) -> dict[str, Any]:
    """One body check: `{path: record.email, equals: ...}`."""
    body: dict[str, Any] = {"path": path, comparison: value}
    if ignore_case:
        body["ignore_case"] = True
    return body


def refused(identity: str | None) -> list[str]:
    """The outcomes that mean "not allowed": anonymous callers may also be unauthorized."""
    if identity == "anonymous":
        return ["unauthorized", "forbidden"]
    return ["forbidden", "not_found"]


def saved(name: str) -> str:
    """`{{ saved.name }}`: a template that keeps the saved value's own type."""
    return "{{ saved." + name + " }}"
