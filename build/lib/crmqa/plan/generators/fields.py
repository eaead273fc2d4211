"""Boundary values and equivalence classes per field, from the plan's `requirements`.

For every writable field a rule names, by the field's kind:

- text: the longest accepted value and one character more, the shortest and one less, empty
  and whitespace-only when the field is required, and classes that break naive code:
  apostrophes, double quotes, accented Latin, Cyrillic, Greek, CJK, Arabic and Hebrew
  (right-to-left), emoji (outside the Basic Multilingual Plane);
- email, phone, url, date, number and choice fields: their valid and invalid classes;
- unique fields: a second record with the same value, and (e-mails) the same value in
  another letter case.

An accepted class is created, read back, changed to a second value of the same class and
read back again (so text in another script is checked after an edit too). A refused class
must be refused on create and on update, with an error on that field, and the record must
keep its old value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from crmqa.plan.generators.context import FieldView, GenerationContext
from crmqa.plan.generators.registry import Generator, register_generator
from crmqa.plan.generators.writing import CaseDefaults, case, check, op, saved

__all__ = ["FieldClass", "FieldsSection", "field_classes"]

PREFIX = "GEN-FIELD"


class FieldsSection(CaseDefaults):
    """Boundary values and equivalence classes of every field the requirements name."""

    classes: list[str] | None = Field(
        None, description="only these classes (e.g. max, over_max, cyrillic, no_at); "
        "default: all that fit each field",
    )
    imports: bool = Field(
        True, description="also import a file with one row per refused class of each field: "
        "each must be rejected, with the reason, and the valid row imported")
    exclude: list[str] = Field(
        default_factory=list,
        description="fields to leave out, as entity.field (fields a workflow governs are "
        "left out on their own)",
    )
    through: Literal["api", "ui"] = Field(
        "api", description="api: create, read back and update through canonical operations; "
        "ui: enter each value into the entity's create form (`<entity>_form`) and check the "
        "message at the field (`<entity>_form.<field>_error`), for CRMs used through their "
        "screens (no updates and no imports are generated then)",
    )
    saved_screen: str = Field(
        "{entity}_detail", pattern=r"^[a-z{][a-z0-9_{}]*$",
        description="through ui: the screen a create form goes to once saved, `{entity}` "
        "standing for the entity (`{entity}_edit` where a record's page is its edit form)",
    )
    read_back: bool = Field(
        False, description="through ui: read each saved value back from the saved screen's "
        "input of the field (`expect_value`), where a record's page is its form: a value the "
        "form cut short or changed is then caught")


@dataclass(frozen=True)
class FieldClass:
    """One class of values for one field: accepted (with two sample values) or refused."""

    name: str
    title: str
    accepted: bool
    value: Any
    second: Any = None  # accepted: the value an update changes it to
    on_update: bool = True  # refused: also refused when an existing record is changed
    ignore_case: bool = False  # compare read-back values ignoring letter case


# Text that breaks naive storage, encoding, escaping or rendering: two values per class.
_TEXT_CLASSES: tuple[tuple[str, str, str, str], ...] = (
    ("apostrophe", "an apostrophe", "O'Brien", "D'Arcy-O'Neil"),
    ("double_quote", "double quotes", 'The "Best" Co', 'Say "hello"'),
    ("latin_accents", "accented Latin", "Zoë Ångström-Núñez", "Łukasz Ðorđević"),
    ("cyrillic", "Cyrillic", "Иванова Мария", "Пётр Щукин"),
    ("greek", "Greek", "Αθηνά Παππά", "Νίκος Ζερβός"),
    ("cjk", "Chinese and Japanese", "山田太郎", "北京科技有限公司"),
    ("arabic_rtl", "Arabic (right-to-left)", "محمد عبد الله", "شركة النور"),
    ("hebrew_rtl", "Hebrew (right-to-left)", "שרה כהן", "דוד לוי"),
    ("emoji", "emoji (outside the Basic Multilingual Plane)", "Sunny 🌞 Ltd", "Rocket 🚀 AG"),
)

_EMAIL_ACCEPTED = (
    ("plus_tag", "a +tag", "first.last+crm-{{ unique }}@example.com",
     "second+crm-{{ unique }}@example.com"),
    ("subdomain", "a sub-domain", "a-{{ unique }}@mail.example.co.uk",
     "b-{{ unique }}@eu.mail.example.com"),
    ("hyphen_digits", "digits and hyphens", "a1-{{ unique }}@ex-ample123.com",
     "b2-{{ unique }}@ex-ample456.com"),
)
_EMAIL_REFUSED = (
    ("no_at", "no @", "plainaddress.example.com"),
    ("two_at", "two @", "two@@example.com"),
    ("no_local_part", "nothing before the @", "@example.com"),
    ("no_domain", "nothing after the @", "user@"),
    ("space", "a space", "us er@example.com"),
    ("comma", "a comma", "a,b@example.com"),
    ("dot_domain", "a domain starting with a dot", "user@.com"),
)
_PHONE_ACCEPTED = (
    ("international", "an international number", "+44 20 7946 0000", "+49 30 901820"),
    ("national_brackets", "brackets and a hyphen", "(020) 7946-0000", "(030) 9018-20"),
    ("digits_only", "digits only", "0123456789", "0987654321"),
)
_PHONE_REFUSED = (
    ("letters", "letters", "call me maybe"),
    ("too_short", "too few digits", "12"),
    ("too_long", "more digits than any phone number", "+1 234 567 890 123 456 789 0123"),
)
_URL_ACCEPTED = (
    ("https", "an https address", "https://www.example.com/path?q=1", "https://example.org/"),
)
_URL_REFUSED = (("not_a_url", "text that is no address", "not a web address"),)
_DATE_ACCEPTED = (
    ("year_end", "the last day of a year (no time-zone shift)", "2025-12-31", "2026-12-31"),
    ("year_start", "the first day of a year (no time-zone shift)", "2025-01-01", "2026-01-01"),
    ("leap_day", "a leap day", "2024-02-29", "2028-02-29"),
)
_DATE_REFUSED = (
    ("impossible_day", "a day that does not exist", "2025-02-30"),
    ("month_13", "month 13", "2025-13-01"),
    ("not_a_date", "text that is no date", "not a date"),
)


def _fit(text: str, view: FieldView) -> str | None:
    """`text` cut to the field's maximum; None when it would be shorter than the minimum."""
    limit = view.rule.max_length
    cut = text if limit is None else text[:limit]
    low = view.rule.min_length or (1 if view.rule.required else 0)
    return cut if len(cut) >= max(low, 1) else None


def _length_value(length: int, fill: str, unique: bool) -> str:
    """A text of exactly `length` characters (unique per case run for unique fields)."""
    if unique and length >= 24:
        return "{{ (unique ~ '" + fill + "' * " + str(length) + ")[:" + str(length) + "] }}"
    return fill * length


def _email_of_length(length: int) -> str:
    """A valid e-mail address of exactly `length` characters (local part at most 64)."""
    local = min(64, max(1, length - 6))
    domain_length = length - local - 1
    labels: list[str] = []
    rest = domain_length - 4  # ".com"
    while rest > 0:
        size = min(63, rest)
        if rest - size == 1:  # never leave a one-character remainder (a label needs a dot)
            size -= 2
        labels.append("d" * size)
        rest -= size + 1
    domain = ".".join(labels) + ".com" if labels else "x.co"
    local_text = "{{ ('m' ~ unique ~ '" + "x" * local + "')[:" + str(local) + "] }}"
    return f"{local_text}@{domain}"


def field_classes(view: FieldView) -> list[FieldClass]:
    """Every class the generator tries for one field, accepted ones first."""
    rule = view.rule
    kind = view.kind
    classes: list[FieldClass] = []
    if kind == "text":
        for name, what, first, second in _TEXT_CLASSES:
            a, b = _fit(first, view), _fit(second, view)
            if a and b:
                classes.append(FieldClass(name, f"text with {what}", True, a, b))
    elif kind == "email":
        for name, what, first, second in _EMAIL_ACCEPTED:
            classes.append(FieldClass(name, f"an e-mail address with {what}", True, first,
                                      second, ignore_case=True))
    elif kind == "phone":
        for name, what, first, second in _PHONE_ACCEPTED:
            classes.append(FieldClass(name, f"a phone number: {what}", True, first, second))
    elif kind == "url":
        for name, what, first, second in _URL_ACCEPTED:
            classes.append(FieldClass(name, what, True, first, second))
    elif kind == "date":
        for name, what, first, second in _DATE_ACCEPTED:
            classes.append(FieldClass(name, f"a date: {what}", True, first, second))
    elif kind == "number":
        classes.extend(_number_classes(view))
    elif kind == "choice":
        choices = rule.choices or []
        for index, choice in enumerate(choices):
            other = choices[(index + 1) % len(choices)]
            classes.append(FieldClass(f"choice_{choice}", f"the choice '{choice}'", True,
                                      choice, other))
        classes.append(FieldClass("not_a_choice", "a value that is not a choice", False,
                                  f"no-such-{view.name}"))
    classes.extend(_length_classes(view))
    if kind == "email":
        classes.extend(FieldClass(n, f"an e-mail address with {w}", False, v)
                       for n, w, v in _EMAIL_REFUSED)
    elif kind == "phone":
        classes.extend(FieldClass(n, f"a phone number with {w}", False, v)
                       for n, w, v in _PHONE_REFUSED)
    elif kind == "url":
        classes.extend(FieldClass(n, w, False, v) for n, w, v in _URL_REFUSED)
    elif kind == "date":
        classes.extend(FieldClass(n, w, False, v) for n, w, v in _DATE_REFUSED)
    if rule.required:
        classes.append(FieldClass("missing", "the field left out", False, None,
                                  on_update=False))
        classes.append(FieldClass("empty", "an empty value", False, ""))
        if kind in ("text", "email", "phone", "url"):
            classes.append(FieldClass("whitespace", "only spaces", False, "   "))
    return classes


def _length_classes(view: FieldView) -> list[FieldClass]:
    rule = view.rule
    kind = view.kind
    if kind not in ("text", "email", "url"):
        return []
    classes = []
    high, low = rule.max_length, rule.min_length
    if high is not None:
        if kind == "email":
            longest, too_long = _email_of_length(high), _email_of_length(high + 1)
            second = _email_of_length(high).replace("'m'", "'n'")
        else:
            longest = _length_value(high, "x", rule.unique)
            second = _length_value(high, "y", rule.unique)
            too_long = _length_value(high + 1, "z", rule.unique)
        classes.append(FieldClass("max", f"the longest accepted value ({high} characters)",
                                  True, longest, second, ignore_case=kind == "email"))
        classes.append(FieldClass("over_max", f"one character over the maximum ({high + 1})",
                                  False, too_long))
    if low is not None and low > 0 and kind == "text":
        classes.append(FieldClass("min", f"the shortest accepted value ({low} characters)",
                                  True, _length_value(low, "m", False),
                                  _length_value(low, "n", False)))
        if low > 1:
            classes.append(FieldClass("under_min", f"one character under the minimum "
                                      f"({low - 1})", False, _length_value(low - 1, "u", False)))
    return classes


def _number_classes(view: FieldView) -> list[FieldClass]:
    rule = view.rule
    classes = []
    if rule.minimum is not None:
        classes.append(FieldClass("minimum", f"the smallest accepted number ({rule.minimum:g})",
                                  True, _num(rule.minimum), _num(rule.minimum + 1)))
        classes.append(FieldClass("below_minimum", f"just below the minimum "
                                  f"({rule.minimum - 0.01:g})", False, _num(rule.minimum - 0.01)))
    if rule.maximum is not None:
        classes.append(FieldClass("maximum", f"the largest accepted number ({rule.maximum:g})",
                                  True, _num(rule.maximum), _num(rule.maximum - 1)))
        classes.append(FieldClass("above_maximum", f"just above the maximum "
                                  f"({rule.maximum + 1:g})", False, _num(rule.maximum + 1)))
    classes.append(FieldClass("decimal", "a number with decimals", True, 1234.56, 99.5))
    classes.append(FieldClass("not_a_number", "text that is no number", False, "twelve"))
    return classes


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def _workflow_fields(context: GenerationContext) -> set[str]:
    """`entity.field` of every field an enabled workflow governs (the workflow's cases test
    which values a record may take and when)."""
    found: set[str] = set()
    workflows = context.plan.generate.get("workflows")
    if not isinstance(workflows, dict) or workflows.get("enabled") is False:
        return found
    for flow in (workflows.get("workflows") or {}).values():
        if isinstance(flow, dict):
            found.add(f"{flow.get('entity')}.{flow.get('field', 'status')}")
    return found


def generate(context: GenerationContext, section: FieldsSection) -> Iterator[dict[str, Any]]:
    """Every class of every writable field of every covered entity."""
    excluded = set(section.exclude) | _workflow_fields(context)
    for entity in context.entities:
        if not section.wants(entity):
            continue
        for view in context.writable(entity):
            if f"{entity}.{view.name}" in excluded:
                continue
            for field_class in field_classes(view):
                if section.classes is not None and field_class.name not in section.classes:
                    continue
                if section.through == "ui":
                    if field_class.name != "missing":  # a form has no "left out": see empty
                        yield _through_form(context, section, view, field_class)
                    continue
                yield (_accepted if field_class.accepted else _refused)(
                    context, section, view, field_class)
            if section.through == "ui":
                continue
            if view.rule.unique:
                yield _duplicate(context, section, view)
            if section.imports:
                refused = [c for c in field_classes(view) if not c.accepted
                           and c.name != "missing"
                           and (section.classes is None or c.name in section.classes)]
                if refused:
                    yield _import_refused(context, section, view, refused)


def _base(context: GenerationContext, view: FieldView, tag: str) -> dict[str, Any]:
    """Required fields, with the field under test left for the case to set."""
    return context.required_record(view.entity, tag, skip=[view.name])


def _equals(view: FieldView, value: Any, ignore_case: bool) -> dict[str, Any]:
    return check(f"record.{view.name}", "equals", value, ignore_case=ignore_case)


def _accepted(context: GenerationContext, section: FieldsSection, view: FieldView,
              field_class: FieldClass) -> dict[str, Any]:
    entity, name = view.entity, view.name
    data = {**_base(context, view, "a"), name: field_class.value}
    steps = [
        op(f"{entity}.create", {"data": data}, name=f"create with {field_class.title}",
           expect={"outcome": "ok"}, save={"record_id": "record.id"}),
        op(f"{entity}.get", {"id": saved("record_id")}, name="read it back",
           expect={"outcome": "ok", "body": [_equals(view, field_class.value,
                                                     field_class.ignore_case)]}),
        op(f"{entity}.update", {"id": saved("record_id"), "data": {name: field_class.second}},
           name="change it to another value of the class", expect={"outcome": "ok"}),
        op(f"{entity}.get", {"id": saved("record_id")}, name="read the change back",
           expect={"outcome": "ok", "body": [_equals(view, field_class.second,
                                                     field_class.ignore_case)]}),
    ]
    return case(section, PREFIX, [entity, name, field_class.name],
                f"{entity} {name}: {field_class.title} is accepted and read back as written, "
                "also after an edit",
                module=context.module(entity), steps=steps,
                tags=["boundary" if field_class.name in ("max", "min", "minimum", "maximum")
                      else "equivalence", f"field:{entity}.{name}"])


def _refused(context: GenerationContext, section: FieldsSection, view: FieldView,
             field_class: FieldClass) -> dict[str, Any]:
    entity, name = view.entity, view.name
    good = view.valid_value("g")
    data = _base(context, view, "b")
    if field_class.name != "missing":
        data[name] = field_class.value
    setup = [op(f"{entity}.create", {"data": {**_base(context, view, "a"), name: good}},
                name="create a valid record to change", expect={"outcome": "ok"},
                save={"record_id": "record.id"})]
    steps = [op(f"{entity}.create", {"data": data}, name=f"create with {field_class.title}",
                expect={"outcome": "rejected", "field_errors": [name]}, keep_going=True)]
    if field_class.on_update:
        steps.append(op(f"{entity}.update",
                        {"id": saved("record_id"), "data": {name: field_class.value}},
                        name=f"change a record to {field_class.title}",
                        expect={"outcome": "rejected", "field_errors": [name]},
                        keep_going=True))
        steps.append(op(f"{entity}.get", {"id": saved("record_id")},
                        name="the record keeps its value",
                        expect={"outcome": "ok", "body": [_equals(
                            view, good, view.kind == "email")]}))
    boundary = field_class.name in ("over_max", "under_min", "below_minimum", "above_maximum")
    return case(section, PREFIX, [entity, name, field_class.name],
                f"{entity} {name}: {field_class.title} is refused on create and on update",
                module=context.module(entity), setup=setup, steps=steps,
                tags=["boundary" if boundary else "equivalence", "validation",
                      f"field:{entity}.{name}"])


def _through_form(context: GenerationContext, section: FieldsSection, view: FieldView,
                  field_class: FieldClass) -> dict[str, Any]:
    """One class entered into the create form: refused with a message at the field, or saved.

    The screen names are canonical (`lead_form`, its `save`, `errors` and `<field>_error`), so
    a profile that lacks one makes the case not applicable, as any UI case.
    """
    entity, name = view.entity, view.name
    form = f"{entity}_form"
    values = {field: ("" if value is None else value)
              for field, value in {**_base(context, view, "a"), name: field_class.value}.items()}
    steps: list[dict[str, Any]] = [
        {"ui": "open", "target": form},
        {"ui": "fill", "target": form, "values": values,
         "name": f"enter {field_class.title} as {name}"},
        {"ui": "click", "target": f"{form}.save"},
    ]
    if field_class.accepted:
        saved_screen = section.saved_screen.replace("{entity}", entity)
        steps.append({"ui": "expect_url", "target": saved_screen,
                      "name": "the form is saved: the record's page shows"})
        if section.read_back:
            steps.append({"ui": "expect_value", "target": f"{saved_screen}.{name}",
                          "value": field_class.value, "name": "it holds the value as entered"})
        title = f"{entity} form: {name} with {field_class.title} is saved"
    else:
        steps.append({"ui": "expect_visible", "target": f"{form}.{name}_error",
                      "name": f"the form says what is wrong with {name}"})
        steps.append({"ui": "expect_url", "target": form, "name": "and stays open"})
        title = f"{entity} form: {name} with {field_class.title} is refused at the field"
    boundary = field_class.name in ("max", "min", "over_max", "under_min", "minimum",
                                    "maximum", "below_minimum", "above_maximum")
    return case(section, PREFIX, [entity, name, "ui", field_class.name], title,
                module=context.module(entity), steps=steps,
                tags=["ui", "boundary" if boundary else "equivalence",
                      *([] if field_class.accepted else ["validation"]),
                      f"field:{entity}.{name}"])


def _duplicate(context: GenerationContext, section: FieldsSection,
               view: FieldView) -> dict[str, Any]:
    entity, name = view.entity, view.name
    setup = [
        op(f"{entity}.create", {"data": {**_base(context, view, "a"),
                                         name: view.valid_value("u1")}},
           name="create the first record", expect={"outcome": "ok"},
           save={"taken": f"record.{name}"}),
        op(f"{entity}.create", {"data": {**_base(context, view, "c"),
                                         name: view.valid_value("u2")}},
           name="create a second record", expect={"outcome": "ok"},
           save={"second_id": "record.id"}),
    ]
    data = {**_base(context, view, "b"), name: saved("taken")}
    steps = [
        op(f"{entity}.create", {"data": data}, name=f"create another with the same {name}",
           expect={"outcome": ["rejected", "conflict"], "field_errors": [name]},
           keep_going=True),
        op(f"{entity}.update", {"id": saved("second_id"), "data": {name: saved("taken")}},
           name=f"change the second record to the same {name}",
           expect={"outcome": ["rejected", "conflict"], "field_errors": [name]},
           keep_going=True),
    ]
    if view.kind == "email":
        steps.append(op(f"{entity}.create",
                        {"data": {**_base(context, view, "d"),
                                  name: "{{ saved.taken | upper }}"}},
                        name=f"create another with the same {name} in capitals",
                        expect={"outcome": ["rejected", "conflict"], "field_errors": [name]}))
    return case(section, PREFIX, [entity, name, "duplicate"],
                f"{entity} {name}: a value another record already has is refused",
                module=context.module(entity), setup=setup, steps=steps,
                tags=["equivalence", "unique", f"field:{entity}.{name}"])


def _import_refused(context: GenerationContext, section: FieldsSection, view: FieldView,
                    refused: list[FieldClass]) -> dict[str, Any]:
    entity, name = view.entity, view.name
    rows = [{**_base(context, view, "ok"), name: view.valid_value("ok")}]
    rows.extend({**_base(context, view, f"x{index}"), name: field_class.value}
                for index, field_class in enumerate(refused, start=1))
    count = len(refused)
    steps = [op(f"{entity}.import", {"rows": rows},
                name=f"import 1 valid row and {count} with an invalid {name}",
                expect={"outcome": "ok", "body": [
                    check("imported", "equals", 1),
                    check("rejected", "length", count),
                    check(f"length(rejected[?errors.{name}])", "equals", count),
                ]})]
    classes = ", ".join(field_class.name for field_class in refused)
    return case(section, PREFIX, [entity, name, "import"],
                f"{entity} {name}: an import rejects each invalid value ({classes}) and says "
                "why, and imports the valid row",
                module=context.module(entity), steps=steps,
                tags=["equivalence", "validation", "import", f"field:{entity}.{name}"])


register_generator(Generator(
    key="fields",
    section=FieldsSection,
    generate=generate,
    summary="boundary values and equivalence classes of every field the requirements name",
))
