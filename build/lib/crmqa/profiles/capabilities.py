"""Capability names: what a case may need and a profile may offer, or decline with a reason.

Forms: `api`, `ui`, `<entity>` (`lead`), `<entity>.<operation>` (`lead.import`),
`screen:<screen>` and `screen:<screen>.<element>`, `field:<entity>.<field>` (a canonical field
the case writes, reads back, filters or sorts on) and `auth:<scheme>`.

A profile's `not_applicable:` names capabilities its target cannot offer, each with the reason
cases are told (`ui: the web client is not installed`). A reason given for a capability also
covers what lies under it: `ui` covers every screen, `lead` every lead operation and field,
`screen:lead_list` each of its elements.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from crmqa.plan.canonical import ENTITIES, FIELDS, OPERATIONS

FIELD_PREFIX = "field:"
_NAME = r"[a-z][a-z0-9_]*"
_SCREEN = re.compile(rf"^screen:({_NAME})(?:\.({_NAME}))?$")
_FIELD = re.compile(rf"^field:({_NAME})\.({_NAME})$")


def field_capability(entity: str, field: str) -> str:
    """`field:lead.first_name`."""
    return f"{FIELD_PREFIX}{entity}.{field}"


def parents(capability: str) -> Iterator[str]:
    """The capability itself, then each capability that covers it, nearest first."""
    yield capability
    match = _SCREEN.fullmatch(capability)
    if match:
        if match.group(2) is not None:
            yield f"screen:{match.group(1)}"
        yield "ui"
        return
    match = _FIELD.fullmatch(capability)
    if match:
        yield match.group(1)
        yield "api"
        return
    entity, dot, _ = capability.partition(".")
    if entity in ENTITIES:
        if dot:
            yield entity
        yield "api"


def reason_for(capability: str, reasons: Mapping[str, str]) -> str | None:
    """The reason the profile gives for not offering `capability` (or what covers it)."""
    for name in parents(capability):
        if name in reasons:
            return reasons[name]
    return None


def capability_problem(name: str) -> str | None:
    """Why `name` is not a capability a profile can decline, or None."""
    if name in ("api", "ui") or name in ENTITIES:
        return None
    if _SCREEN.fullmatch(name):
        return None
    match = _FIELD.fullmatch(name)
    if match:
        entity, field = match.groups()
        if entity not in ENTITIES:
            return f"'{entity}' is not a canonical entity ({', '.join(ENTITIES)})"
        if field not in FIELDS[entity]:
            return (f"'{field}' is not a canonical field of {entity} "
                    f"({', '.join(FIELDS[entity])})")
        return None
    entity, dot, operation = name.partition(".")
    if dot and entity in ENTITIES and operation in OPERATIONS:
        return None
    return (f"'{name}' is not a capability: write api, ui, <entity>, <entity>.<operation>, "
            "screen:<screen>[.<element>] or field:<entity>.<field>")
