"""The permission matrix: role x entity x action x ownership, from a declared table.

The plan declares which identity acts in each role, and what each role may do:

    permissions:
      roles:
        sales: {identity: sales, other: sales2}   # `other` owns "another user's" records
        viewer: {identity: viewer}
      grants:
        sales: {read: own, create: true, update: own, delete: own, import: true, export: own}
        viewer: {read: all, create: false, update: none, delete: none, import: false,
                 export: all}

`read`, `update`, `delete` and `export` take `all` (own and other users' records), `own`
(only records the identity owns) or `none`; `create` and `import` take true or false.
Every cell becomes a case through the API: an allowed action must succeed and take effect; a
refused one must answer forbidden or not found (unauthorized for anonymous callers) and leave
the record as it was. Reading another user's record is also checked through search, and
exporting through the export. Where the target's profile maps the entity's screens, the
same cells are checked through the UI (opening another user's record, its edit form and its
delete page).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from crmqa.plan.generators.context import GenerationContext
from crmqa.plan.generators.problems import GenerationProblem, unknown
from crmqa.plan.generators.registry import Generator, register_generator
from crmqa.plan.generators.writing import CaseDefaults, case, check, op, refused, saved
from crmqa.plan.models import Strict

__all__ = ["Grants", "PermissionsSection", "Role"]

PREFIX = "GEN-PERM"
Scope = Literal["all", "own", "none"]


class Role(Strict):
    """Who acts in a role."""

    identity: str = Field(description="the target identity that acts in this role")
    other: str | None = Field(
        None, description="the identity whose records are 'another user's' for this role "
        "(default: the first other identity in `roles` that may create records)",
    )


class Grants(Strict):
    """What one role may do with records."""

    read: Scope = Field("none", description="all, own or none")
    create: bool = Field(False, description="may create records")
    update: Scope = Field("none", description="all, own or none")
    delete: Scope = Field("none", description="all, own or none")
    import_: bool = Field(False, alias="import", description="may import records")
    export: Scope = Field("none", description="all (every record), own or none")


class PermissionsSection(CaseDefaults):
    """The role x entity x action x ownership matrix."""

    roles: dict[str, Role] = Field(description="role -> who acts in it")
    grants: dict[str, Grants] = Field(description="role -> what it may do, for every entity")
    entity_grants: dict[str, dict[str, Grants]] = Field(
        default_factory=dict, description="entity -> role -> grants that differ for it")
    ui: bool = Field(True, description="also check through the UI where screens exist")
    severity: str = Field("critical", description="severity of the generated cases")
    priority: str = Field("high", description="priority of the generated cases")


def _check_section(context: GenerationContext, section: PermissionsSection) -> None:
    for role, spec in section.roles.items():
        for key in ("identity", "other"):
            name = getattr(spec, key)
            if name is not None and not context.has_identity(name):
                raise unknown("identity", name, context.identities, ("roles", role, key))
    for role in section.grants:
        if role not in section.roles:
            raise unknown("role", role, section.roles, ("grants", role))
    for entity, table in section.entity_grants.items():
        for role in table:
            if role not in section.roles:
                raise unknown("role", role, section.roles, ("entity_grants", entity, role))


def _owner_of_others(section: PermissionsSection, role: str) -> str | None:
    spec = section.roles[role]
    if spec.other is not None:
        return spec.other
    for other_role, other in section.roles.items():
        grants = section.grants.get(other_role)
        if other.identity != spec.identity and grants is not None and grants.create:
            return other.identity
    return None


def generate(context: GenerationContext, section: PermissionsSection
             ) -> Iterator[dict[str, Any]]:
    """One case per cell of the matrix that can be set up."""
    _check_section(context, section)
    for entity in context.entities:
        if not section.wants(entity) or context.marker_field(entity) is None:
            continue
        for role, spec in section.roles.items():
            grants = section.entity_grants.get(entity, {}).get(role) or section.grants.get(role)
            if grants is None:
                raise GenerationProblem(f"role '{role}' has no grants", ("grants",))
            yield from _cells(context, section, entity, role, spec.identity, grants,
                              _owner_of_others(section, role))


def _allowed(scope: str, ownership: str) -> bool:
    return scope == "all" or (scope == "own" and ownership == "own")


def _cells(context: GenerationContext, section: PermissionsSection, entity: str, role: str,
           identity: str, grants: Grants, other: str | None) -> Iterator[dict[str, Any]]:
    owners = []
    if grants.create:
        owners.append(("own", identity))
    if other is not None:
        owners.append(("other", other))
    for ownership, owner in owners:
        yield _read(context, section, entity, role, identity, owner, ownership,
                    _allowed(grants.read, ownership))
        yield _update(context, section, entity, role, identity, owner, ownership,
                      _allowed(grants.update, ownership))
        yield _delete(context, section, entity, role, identity, owner, ownership,
                      _allowed(grants.delete, ownership))
        if section.ui and identity != "anonymous":  # a browser session needs a login
            yield _ui(context, section, entity, role, identity, owner, ownership, grants)
    yield _create(context, section, entity, role, identity, grants.create)
    yield _import(context, section, entity, role, identity, grants.import_)
    if other is not None:
        yield _export(context, section, entity, role, identity, other, grants.export)


def _word(allowed: bool) -> str:
    return "may" if allowed else "may not"


def _owned(context: GenerationContext, entity: str, owner: str, tag: str = "a"
           ) -> dict[str, Any]:
    return op(f"{entity}.create", {"data": context.required_record(entity, tag)}, as_=owner,
              name=f"{owner} creates a record", expect={"outcome": "ok"},
              save={"record_id": "record.id", "before": "record"})


def _meta(context: GenerationContext, section: PermissionsSection, entity: str,
          parts: list[str], title: str, setup: list[dict[str, Any]],
          steps: list[dict[str, Any]], tags: list[str]) -> dict[str, Any]:
    return case(section, PREFIX, [entity, *parts], title, module=context.module(entity),
                setup=setup, steps=steps, category="security",
                tags=["access-control", *tags])


def _read(context: GenerationContext, section: PermissionsSection, entity: str, role: str,
          identity: str, owner: str, ownership: str, allowed: bool) -> dict[str, Any]:
    marker = context.marker_field(entity)
    assert marker is not None
    steps = [op(f"{entity}.get", {"id": saved("record_id")}, as_=identity,
                name=f"{role} reads the record",
                expect={"outcome": "ok" if allowed else refused(identity)}, keep_going=True)]
    if identity != "anonymous":
        found = check("records[*].id", "contains" if allowed else "not_contains",
                      saved("record_id"))
        steps.append(op(f"{entity}.search", {"query": "{{ saved.before." + marker.name + " }}"},
                        as_=identity, name=f"{role} searches for it",
                        expect={"outcome": "ok", "body": [found]}))
    whose = "their own" if ownership == "own" else "another user's"
    return _meta(context, section, entity, [role, "read", ownership],
                 f"{role} {_word(allowed)} read {whose} {entity} (get and search)",
                 [_owned(context, entity, owner)], steps, ["read", ownership])


def _update(context: GenerationContext, section: PermissionsSection, entity: str, role: str,
            identity: str, owner: str, ownership: str, allowed: bool) -> dict[str, Any]:
    marker = context.marker_field(entity)
    assert marker is not None
    new_value = "Changed-{{ unique }}"
    steps = [
        op(f"{entity}.update", {"id": saved("record_id"), "data": {marker.name: new_value}},
           as_=identity, name=f"{role} changes the record",
           expect={"outcome": "ok" if allowed else refused(identity)}, keep_going=True),
        op(f"{entity}.get", {"id": saved("record_id")}, as_=owner,
           name="the owner sees " + ("the change" if allowed else "it unchanged"),
           expect={"outcome": "ok", "body": [check(
               f"record.{marker.name}", "equals",
               new_value if allowed else "{{ saved.before." + marker.name + " }}")]}),
    ]
    whose = "their own" if ownership == "own" else "another user's"
    return _meta(context, section, entity, [role, "update", ownership],
                 f"{role} {_word(allowed)} change {whose} {entity}",
                 [_owned(context, entity, owner)], steps, ["update", ownership])


def _delete(context: GenerationContext, section: PermissionsSection, entity: str, role: str,
            identity: str, owner: str, ownership: str, allowed: bool) -> dict[str, Any]:
    steps = [
        op(f"{entity}.delete", {"id": saved("record_id")}, as_=identity,
           name=f"{role} deletes the record",
           expect={"outcome": "ok" if allowed else refused(identity)}, keep_going=True),
        op(f"{entity}.get", {"id": saved("record_id")}, as_=owner,
           name="the record is " + ("gone" if allowed else "still there"),
           expect={"outcome": "not_found" if allowed else "ok"}),
    ]
    whose = "their own" if ownership == "own" else "another user's"
    return _meta(context, section, entity, [role, "delete", ownership],
                 f"{role} {_word(allowed)} delete {whose} {entity}",
                 [_owned(context, entity, owner)], steps, ["delete", ownership])


def _create(context: GenerationContext, section: PermissionsSection, entity: str, role: str,
            identity: str, allowed: bool) -> dict[str, Any]:
    steps = [op(f"{entity}.create", {"data": context.required_record(entity, "n")},
                as_=identity, name=f"{role} creates a record",
                expect={"outcome": "ok" if allowed else refused(identity)})]
    return _meta(context, section, entity, [role, "create"],
                 f"{role} {_word(allowed)} create a {entity}", [], steps, ["create"])


def _import(context: GenerationContext, section: PermissionsSection, entity: str, role: str,
            identity: str, allowed: bool) -> dict[str, Any]:
    expect: dict[str, Any] = {"outcome": "ok" if allowed else refused(identity)}
    if allowed:
        expect["body"] = [check("imported", "equals", 1)]
    steps = [op(f"{entity}.import", {"rows": [context.required_record(entity, "m")]},
                as_=identity, name=f"{role} imports one row", expect=expect)]
    return _meta(context, section, entity, [role, "import"],
                 f"{role} {_word(allowed)} import {entity} records", [], steps, ["import"])


def _export(context: GenerationContext, section: PermissionsSection, entity: str, role: str,
            identity: str, other: str, scope: str) -> dict[str, Any]:
    marker = context.marker_field(entity)
    assert marker is not None
    query = "{{ saved.before." + marker.name + " }}"
    if scope == "none":
        expect: dict[str, Any] = {"outcome": refused(identity)}
        title = f"{role} may not export {entity} records"
    else:
        sees = scope == "all"
        expect = {"outcome": "ok", "body": [check(
            f"rows[*].{marker.name}", "contains" if sees else "not_contains", query)]}
        title = (f"{role} exports other users' {entity} records" if sees
                 else f"{role}'s export leaves out other users' {entity} records")
    steps = [op(f"{entity}.export", {"query": query}, as_=identity,
                name=f"{role} exports", expect=expect)]
    return _meta(context, section, entity, [role, "export"], title,
                 [_owned(context, entity, other)], steps, ["export"])


def _ui(context: GenerationContext, section: PermissionsSection, entity: str, role: str,
        identity: str, owner: str, ownership: str, grants: Grants) -> dict[str, Any]:
    """Opening the record's page, edit form and delete page through the browser."""
    steps = []
    for kind, scope in (("detail", grants.read), ("edit", grants.update),
                        ("delete", grants.delete)):
        allowed = _allowed(scope, ownership)
        steps.append({
            "name": f"{role} opens the {kind} page",
            "ui": "open", "target": f"{entity}_{kind}", "as": identity,
            "values": {"id": saved("record_id")},
            "expect": {"body": [check("status", "lte" if allowed else "gte",
                                      399 if allowed else 400)]},
            "continue_on_failure": True,
        })
    whose = "their own" if ownership == "own" else "another user's"
    return _meta(context, section, entity, [role, "ui", ownership],
                 f"{role}: the web UI opens {whose} {entity} only as the grants allow "
                 f"(read {grants.read}, update {grants.update}, delete {grants.delete})",
                 [_owned(context, entity, owner)], steps, ["ui", ownership])


register_generator(Generator(
    key="permissions",
    section=PermissionsSection,
    generate=generate,
    summary="role x entity x action x ownership matrix from a declared permission table",
))
