"""What a generator reads: the validated plan, its field rules, and helpers that build cases.

Generators see the plan's `requirements` through `FieldView`s: each field's rule with its kind
(from `format`, `choices`, or the canonical model's default for that field), so that every
generator treats an e-mail field, a choice field or a date field the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from crmqa.plan.canonical import FIELD_KINDS, SYSTEM_FIELDS, entity_module
from crmqa.plan.models import FieldRule, Plan

__all__ = ["FieldView", "GenerationContext", "RecordValues"]

#: Kinds whose values generated cases can write and compare as they are.
WRITABLE_KINDS = frozenset({"text", "email", "phone", "url", "date", "number", "choice"})
#: Fields whose values are longer than this get `{{ unique }}` in them (the token is ~20 long).
_UNIQUE_ROOM = 34


@dataclass(frozen=True, eq=False)
class FieldView:
    """One field of one entity as the plan's requirements declare it."""

    entity: str
    name: str
    rule: FieldRule

    @cached_property
    def kind(self) -> str:
        """text, email, phone, url, date, number, choice, timestamp, ref, bool or username."""
        if self.rule.choices:
            return "choice"
        if self.rule.format is not None:
            return self.rule.format
        return FIELD_KINDS.get(self.name, "text")

    @property
    def writable(self) -> bool:
        """A client may write it: not read-only, not set by the CRM, of a kind we can write."""
        return (not self.rule.read_only and self.name not in SYSTEM_FIELDS
                and self.kind in WRITABLE_KINDS)

    @property
    def camel(self) -> str:
        """`FirstName` for first_name: a readable, letters-only stem for generated text."""
        return "".join(part.capitalize() for part in self.name.split("_")) or "Value"

    def valid_value(self, tag: str = "a", *, unique: bool = True) -> Any:
        """A value the rule accepts. Text and e-mails carry `{{ unique }}` when `unique`
        (and when there is room), so that records of parallel cases never meet."""
        rule = self.rule
        kind = self.kind
        if kind == "choice":
            choices = rule.choices or []
            return choices[0] if choices else None
        if kind == "email":
            token = "{{ unique }}" if unique else "fixed"
            return f"{tag.lower()}-{token}@example.com"
        if kind == "phone":
            return f"+1 555 01{abs(hash_tag(tag)) % 90 + 10}"
        if kind == "url":
            return f"https://www.example.com/{tag.lower()}"
        if kind == "date":
            return "2030-06-15"
        if kind == "number":
            return number_inside(rule)
        stem = f"{self.camel}{tag.upper()}"
        limit = rule.max_length
        if unique and (limit is None or limit >= _UNIQUE_ROOM):
            return f"{stem}-{{{{ unique }}}}"
        low = rule.min_length or 1
        text = stem if limit is None else stem[:limit]
        return text if len(text) >= low else text + "x" * (low - len(text))

    def other_value(self, tag: str = "b") -> Any:
        """A second valid value that differs from `valid_value()` (for updates)."""
        if self.kind == "choice":
            choices = self.rule.choices or []
            return choices[1] if len(choices) > 1 else (choices[0] if choices else None)
        if self.kind == "date":
            return "2031-01-31"
        if self.kind == "number":
            first = number_inside(self.rule)
            second = first + 1
            if self.rule.maximum is not None and second > self.rule.maximum:
                second = first - 1
            return second
        return self.valid_value(tag)


def hash_tag(tag: str) -> int:
    """A small, stable number for a tag (Python's hash() of text changes per process)."""
    return sum(ord(ch) * (index + 1) for index, ch in enumerate(tag))


def number_inside(rule: FieldRule) -> float | int:
    """A number inside the rule's bounds (a whole number where one fits)."""
    low, high = rule.minimum, rule.maximum
    if low is not None:
        candidate = low + 10
        if high is not None and candidate > high:
            candidate = (low + high) / 2
        return _whole(candidate)
    if high is not None:
        return _whole(min(high, 100))
    return 100


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


RecordValues = dict[str, Any]


@dataclass
class GenerationContext:
    """The plan as generators read it."""

    plan: Plan
    #: identity names declared by any target of the plan, in written order
    identities: list[str] = field(default_factory=list)
    _views: dict[str, list[FieldView]] = field(default_factory=dict, repr=False)

    @classmethod
    def for_plan(cls, plan: Plan) -> GenerationContext:
        """The context of a validated plan."""
        names: dict[str, None] = {}
        for target in plan.targets.values():
            names.update(dict.fromkeys(target.identities))
        return cls(plan=plan, identities=list(names))

    @cached_property
    def entities(self) -> list[str]:
        """Entities with field rules, in the order the plan writes them."""
        return [entity for entity, rules in self.plan.requirements.items() if rules]

    def fields(self, entity: str) -> list[FieldView]:
        """Every field of `entity` the requirements name, in written order."""
        cached = self._views.get(entity)
        if cached is None:
            rules: Mapping[str, FieldRule] = self.plan.requirements.get(entity, {})
            cached = [FieldView(entity, name, rule) for name, rule in rules.items()]
            self._views[entity] = cached
        return list(cached)

    def field(self, entity: str, name: str) -> FieldView | None:
        """One field's view, or None when the requirements do not name it."""
        rule = self.plan.requirements.get(entity, {}).get(name)
        return FieldView(entity, name, rule) if rule is not None else None

    def writable(self, entity: str) -> list[FieldView]:
        """Fields a client writes (see `FieldView.writable`)."""
        return [view for view in self.fields(entity) if view.writable]

    def required_record(self, entity: str, tag: str = "a",
                        skip: Iterable[str] = ()) -> RecordValues:
        """The smallest valid record: every required field with a valid value."""
        left_out = set(skip)
        return {view.name: view.valid_value(tag) for view in self.writable(entity)
                if view.rule.required and view.name not in left_out}

    def full_record(self, entity: str, tag: str = "a",
                    overrides: Mapping[str, Any] | None = None) -> RecordValues:
        """A valid record with every writable field given, so that reading it back checks
        them all; `overrides` replace or add values."""
        values = {view.name: view.valid_value(tag) for view in self.writable(entity)}
        values = {name: value for name, value in values.items() if value is not None}
        values.update(overrides or {})
        return values

    def marker_field(self, entity: str) -> FieldView | None:
        """The text field that carries a case's unique marker: a searchable text field when
        there is one (so the case can find its records), else any writable text field."""
        texts = [view for view in self.writable(entity) if view.kind == "text"
                 and (view.rule.max_length is None or view.rule.max_length >= _UNIQUE_ROOM)]
        searchable = [view for view in texts if view.rule.searchable]
        candidates = searchable or texts
        return candidates[0] if candidates else None

    def module(self, entity: str) -> str:
        """The Allure feature of an entity's generated cases (`leads`)."""
        return entity_module(entity)

    def has_identity(self, name: str) -> bool:
        """True when some target declares the identity."""
        return name in self.identities
