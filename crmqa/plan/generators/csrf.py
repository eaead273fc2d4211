"""CSRF on every form: each screen that changes records refuses a submission forged elsewhere.

For every entity the plan's requirements name and every kind of screen that changes records
(`<entity>_form`, `_edit`, `_delete`, `_convert`: crmqa.plan.canonical), one case opens the
screen as a logged-in user (on a record of the case's own where the screen shows one), fills
a create form with a valid record, and checks with `ui: expect_csrf_protected` that the form
refuses the same submission sent from another site without the values the page hid in it
(the CSRF token among them). The target's profile decides which screens exist: a case on a
screen the profile does not map is not applicable there, as any UI case is.

    csrf:
      kinds: [form, edit, delete]     # the default: every kind that changes records
      as: admin                       # the identity that opens the forms (default: the target's)

Import forms are left out by default: a forgery without the file would be refused for that
reason alone, and the check could not tell.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from crmqa.plan.canonical import SCREEN_KINDS
from crmqa.plan.generators.context import GenerationContext
from crmqa.plan.generators.registry import Generator, register_generator
from crmqa.plan.generators.writing import CaseDefaults, case, op, saved

__all__ = ["CsrfSection"]

PREFIX = "GEN-CSRF"
FormKind = Literal["form", "edit", "delete", "convert"]
#: The element that submits each kind of screen's form (canonical element names).
SUBMIT: dict[str, str] = {"form": "save", "edit": "save", "delete": "confirm",
                          "convert": "confirm"}
_TITLES = {"form": "the new {entity} form", "edit": "the {entity} edit form",
           "delete": "the {entity} delete page", "convert": "the {entity} conversion page"}
#: Screens that show one record need one of the case's own.
_ON_A_RECORD = frozenset({"edit", "delete", "convert"})


class CsrfSection(CaseDefaults):
    """Every form that changes records refuses a forged cross-site submission."""

    kinds: list[FormKind] = Field(
        default_factory=lambda: list[FormKind](["form", "edit", "delete", "convert"]),
        description="kinds of screen whose forms are checked")
    as_: str | None = Field(None, alias="as",
                            description="identity that opens the forms (default: the target's)")
    severity: str = Field("critical", description="severity of the generated cases")
    priority: str = Field("high", description="priority of the generated cases")


def _steps(context: GenerationContext, section: CsrfSection, entity: str, kind: str
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    screen = f"{entity}_{kind}"
    setup: list[dict[str, Any]] = []
    opened: dict[str, Any] = {"ui": "open", "target": screen}
    if kind in _ON_A_RECORD:
        setup.append(op(f"{entity}.create", {"data": context.required_record(entity, "c")},
                        name=f"a {entity} of the case's own", expect={"outcome": "ok"},
                        save={"record_id": "record.id"}))
        opened["values"] = {"id": saved("record_id")}
    steps = [opened]
    if kind == "form":
        # a valid record: a refusal must be for the forgery, not for a missing field
        steps.append({"ui": "fill", "target": screen,
                      "values": context.required_record(entity, "f")})
    steps.append({"name": "a submission forged on another site is refused",
                  "ui": "expect_csrf_protected", "target": f"{screen}.{SUBMIT[kind]}"})
    if section.as_:
        for step in steps:
            step["as"] = section.as_
    return setup, steps


def generate(context: GenerationContext, section: CsrfSection) -> Iterator[dict[str, Any]]:
    """One case per entity and kind of form."""
    for entity in context.entities:
        if not section.wants(entity):
            continue
        for kind in section.kinds:
            if kind not in SCREEN_KINDS:
                continue
            setup, steps = _steps(context, section, entity, kind)
            yield case(section, PREFIX, [entity, kind],
                       f"{_TITLES[kind].format(entity=entity)} refuses a submission forged on "
                       "another site",
                       module=context.module(entity), category="security", setup=setup,
                       steps=steps, tags=["csrf", "ui", "error-guessing"])


register_generator(Generator(
    key="csrf",
    section=CsrfSection,
    generate=generate,
    summary="CSRF: every form that changes records refuses a forged cross-site submission",
))
