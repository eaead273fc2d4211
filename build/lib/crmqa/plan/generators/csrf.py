"""CSRF on every form: each screen that changes records refuses a submission forged elsewhere.

For every entity the plan's requirements name and every kind of screen that may hold a form
that changes something (`<entity>_form`, `_edit`, `_delete`, `_convert`, `_import`, and the
`_detail` and `_list` screens, whose buttons may post: a convert button, a bulk delete;
crmqa.plan.canonical), one case opens the screen as a logged-in user (on a record of the
case's own where the screen shows one), fills a new-record form with a valid record, uploads
the plan's file into an import form, and checks with `ui: expect_csrf_protected` on the whole
screen that **every** form on it that posts refuses the same submission sent from another site
without the values the page hid in it (the CSRF token among them). The forms are found in the
page, not named by the plan: a button the profile's screen map does not know is checked too.
The target's profile decides which screens exist: a case on a screen the profile does not map
is not applicable there, as any UI case is, and so is a screen with no form that posts.

    csrf:
      kinds: [form, edit, delete, convert, import, detail, list]   # the default
      as: admin                       # the identity that opens the forms (default: the target's)
      records: { lead: { status: qualified } }    # so that the lead's page shows its convert button
      import_files: { lead: fixtures/leads/ui_import.csv }   # what the import form uploads

An import form is checked only with a file to upload (`import_files`): a forgery without the
file could be refused for that reason alone, and the check could not tell.
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
FormKind = Literal["form", "edit", "delete", "convert", "import", "detail", "list"]
_TITLES = {"form": "the new {entity} form", "edit": "the {entity} edit form",
           "delete": "the {entity} delete page", "convert": "the {entity} conversion page",
           "import": "the {entity} import form", "detail": "the {entity} page",
           "list": "the {entity} list"}
#: Screens that show one record need one of the case's own.
_ON_A_RECORD = frozenset({"edit", "delete", "convert", "detail"})


class CsrfSection(CaseDefaults):
    """Every form that changes records refuses a forged cross-site submission."""

    kinds: list[FormKind] = Field(
        default_factory=lambda: list[FormKind](
            ["form", "edit", "delete", "convert", "import", "detail", "list"]),
        description="kinds of screen whose forms are checked (every form on the screen that "
        "posts)")
    as_: str | None = Field(None, alias="as",
                            description="identity that opens the forms (default: the target's)")
    records: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="entity -> values the case's own record is created with besides the "
        "required ones, so that its screens show every form they can (a lead that may be "
        "converted shows its convert button)")
    import_files: dict[str, str] = Field(
        default_factory=dict,
        description="entity -> a file its import form uploads (`${unique}` in it is filled "
        "with the run's token); an entity without one has no import case")
    severity: str = Field("critical", description="severity of the generated cases")
    priority: str = Field("high", description="priority of the generated cases")


def _steps(context: GenerationContext, section: CsrfSection, entity: str, kind: str
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    screen = f"{entity}_{kind}"
    setup: list[dict[str, Any]] = []
    opened: dict[str, Any] = {"ui": "open", "target": screen}
    if kind in _ON_A_RECORD:
        record = {**context.required_record(entity, "c"), **section.records.get(entity, {})}
        setup.append(op(f"{entity}.create", {"data": record},
                        name=f"a {entity} of the case's own", expect={"outcome": "ok"},
                        save={"record_id": "record.id"}))
        opened["values"] = {"id": saved("record_id")}
    steps = [opened]
    if kind == "form":
        # a valid record: a refusal must be for the forgery, not for a missing field
        steps.append({"ui": "fill", "target": screen,
                      "values": context.required_record(entity, "f")})
    if kind == "import":
        # the file a user would upload: a refusal must be for the forgery, not a missing file
        steps.append({"ui": "upload", "target": f"{screen}.file",
                      "value": section.import_files[entity],
                      "values": {"unique": "{{ unique }}"}})
    steps.append({"name": "every form on the screen refuses a submission forged on another "
                          "site",
                  "ui": "expect_csrf_protected", "target": screen})
    if section.as_:
        for step in steps:
            step["as"] = section.as_
    return setup, steps


def generate(context: GenerationContext, section: CsrfSection) -> Iterator[dict[str, Any]]:
    """One case per entity and kind of screen."""
    for entity in context.entities:
        if not section.wants(entity):
            continue
        for kind in section.kinds:
            if kind not in SCREEN_KINDS:
                continue
            if kind == "import" and entity not in section.import_files:
                continue  # without a file, a refusal could be for the missing file
            setup, steps = _steps(context, section, entity, kind)
            yield case(section, PREFIX, [entity, kind],
                       f"every form on {_TITLES[kind].format(entity=entity)} refuses a "
                       "submission forged on another site",
                       module=context.module(entity), category="security", setup=setup,
                       steps=steps, tags=["csrf", "ui", "error-guessing"])


register_generator(Generator(
    key="csrf",
    section=CsrfSection,
    generate=generate,
    summary="CSRF: every form that changes records refuses a forged cross-site submission",
))
