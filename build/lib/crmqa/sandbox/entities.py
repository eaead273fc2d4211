"""The sandbox's CRM entities as data: fields, labels, limits and choices, plus validation.

One description per entity drives the SQL table, the REST API, the CSV columns and the HTML
forms, so that a rule (a maximum length, a choice list) is written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

EMAIL_PATTERN = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]{2,}$")
PHONE_PATTERN = re.compile(r"^\+?[0-9 ()\-]{7,20}$")

LEAD_STATUSES = ("new", "contacted", "qualified", "unqualified", "converted")
LEAD_SOURCES = ("web", "referral", "event", "cold_call", "partner", "other")
OPPORTUNITY_STAGES = ("prospecting", "qualification", "proposal", "negotiation",
                      "closed_won", "closed_lost")
CASE_TYPES = ("inquiry", "suggestion", "complaint")
CASE_STATUSES = ("new", "in_progress", "resolved", "closed")
CASE_PRIORITIES = ("low", "normal", "high")
# The service case workflow: new -> in progress -> resolved -> closed (resolved may reopen).
CASE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_progress",),
    "in_progress": ("resolved",),
    "resolved": ("closed", "in_progress"),
    "closed": (),
}
ROLES: dict[str, str] = {
    "admin": "everything, including managing users",
    "manager": "sees and changes all records",
    "sales": "sees and changes only the records they own",
    "viewer": "reads everything, changes nothing",
}


@dataclass(frozen=True)
class FieldSpec:
    """One field of an entity, as the API, the CSV and the form see it."""

    name: str
    label: str
    kind: str = "text"  # text, email, phone, choice, longtext, int, money, date, ref
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    ref: str | None = None  # for kind "ref": the plural name of the referenced entity


@dataclass(frozen=True)
class EntitySpec:
    """One CRM entity: its table, its fields and how a record is named in the UI."""

    name: str  # singular: lead
    plural: str  # URL and table: leads
    label: str  # "Lead"
    fields: tuple[FieldSpec, ...]
    title_fields: tuple[str, ...]
    search_fields: tuple[str, ...]
    list_columns: tuple[str, ...]
    sortable: tuple[str, ...] = field(default=())

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def title(self, record: dict[str, Any]) -> str:
        return " ".join(str(record.get(name) or "") for name in self.title_fields).strip()


LEAD = EntitySpec(
    name="lead", plural="leads", label="Lead",
    fields=(
        FieldSpec("first_name", "First name", required=True, max_length=50),
        FieldSpec("last_name", "Last name", required=True, max_length=50),
        FieldSpec("email", "Email", kind="email", required=True, max_length=254),
        FieldSpec("phone", "Phone", kind="phone", max_length=20),
        FieldSpec("company", "Company", max_length=100),
        FieldSpec("title", "Title", max_length=100),
        FieldSpec("status", "Status", kind="choice", choices=LEAD_STATUSES, default="new"),
        FieldSpec("source", "Source", kind="choice", choices=LEAD_SOURCES, default="web"),
        FieldSpec("notes", "Notes", kind="longtext", max_length=2000),
    ),
    title_fields=("first_name", "last_name"),
    search_fields=("first_name", "last_name", "company", "email"),
    list_columns=("first_name", "last_name", "email", "company", "status", "source", "owner"),
    sortable=("id", "first_name", "last_name", "email", "company", "status", "source", "owner",
              "created_at", "updated_at"),
)
ACCOUNT = EntitySpec(
    name="account", plural="accounts", label="Account",
    fields=(
        FieldSpec("name", "Name", required=True, max_length=100),
        FieldSpec("industry", "Industry", max_length=60),
        FieldSpec("website", "Website", max_length=200),
        FieldSpec("phone", "Phone", kind="phone", max_length=20),
    ),
    title_fields=("name",),
    search_fields=("name", "industry", "website"),
    list_columns=("name", "industry", "phone", "owner"),
    sortable=("id", "name", "industry", "created_at", "updated_at"),
)
CONTACT = EntitySpec(
    name="contact", plural="contacts", label="Contact",
    fields=(
        FieldSpec("first_name", "First name", required=True, max_length=50),
        FieldSpec("last_name", "Last name", required=True, max_length=50),
        FieldSpec("email", "Email", kind="email", max_length=254),
        FieldSpec("phone", "Phone", kind="phone", max_length=20),
        FieldSpec("title", "Title", max_length=100),
        FieldSpec("account_id", "Account", kind="ref", ref="accounts"),
    ),
    title_fields=("first_name", "last_name"),
    search_fields=("first_name", "last_name", "email"),
    list_columns=("first_name", "last_name", "email", "phone", "owner"),
    sortable=("id", "first_name", "last_name", "email", "created_at", "updated_at"),
)
OPPORTUNITY = EntitySpec(
    name="opportunity", plural="opportunities", label="Opportunity",
    fields=(
        FieldSpec("name", "Name", required=True, max_length=120),
        FieldSpec("stage", "Stage", kind="choice", choices=OPPORTUNITY_STAGES,
                  default="prospecting"),
        FieldSpec("amount", "Amount", kind="money", default=0),
        FieldSpec("close_date", "Close date", kind="date"),
        FieldSpec("account_id", "Account", kind="ref", ref="accounts"),
        FieldSpec("contact_id", "Contact", kind="ref", ref="contacts"),
    ),
    title_fields=("name",),
    search_fields=("name",),
    list_columns=("name", "stage", "amount", "close_date", "owner"),
    sortable=("id", "name", "stage", "amount", "close_date", "created_at", "updated_at"),
)
CASE = EntitySpec(
    name="case", plural="cases", label="Case",
    fields=(
        FieldSpec("subject", "Subject", required=True, max_length=150),
        FieldSpec("type", "Type", kind="choice", choices=CASE_TYPES, default="inquiry"),
        FieldSpec("status", "Status", kind="choice", choices=CASE_STATUSES, default="new"),
        FieldSpec("priority", "Priority", kind="choice", choices=CASE_PRIORITIES,
                  default="normal"),
        FieldSpec("description", "Description", kind="longtext", max_length=4000),
        FieldSpec("contact_id", "Contact", kind="ref", ref="contacts"),
        FieldSpec("account_id", "Account", kind="ref", ref="accounts"),
    ),
    title_fields=("subject",),
    search_fields=("subject", "description"),
    list_columns=("subject", "type", "status", "priority", "owner"),
    sortable=("id", "subject", "type", "status", "priority", "created_at", "updated_at"),
)

ENTITIES: dict[str, EntitySpec] = {
    spec.plural: spec for spec in (LEAD, CONTACT, ACCOUNT, OPPORTUNITY, CASE)
}

Errors = dict[str, list[str]]


def _add(errors: Errors, name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def clean_value(spec: FieldSpec, raw: Any, errors: Errors, *, check_email: bool = True) -> Any:
    """Check and normalise one submitted value; record problems in `errors`.

    Empty strings count as "not given" so that HTML forms and CSV cells behave like JSON nulls.
    """
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            raw = None
    if raw is None:
        if spec.required:
            _add(errors, spec.name, "this field is required")
        return None
    if spec.kind in ("int", "ref"):
        if isinstance(raw, bool):
            _add(errors, spec.name, "must be a whole number")
            return None
        try:
            return int(raw)
        except (TypeError, ValueError):
            _add(errors, spec.name, "must be a whole number")
            return None
    if spec.kind == "money":
        try:
            amount = round(float(raw), 2)
        except (TypeError, ValueError):
            _add(errors, spec.name, "must be a number")
            return None
        if amount < 0 or amount > 1e12:
            _add(errors, spec.name, "must be between 0 and 1000000000000")
            return None
        return amount
    if not isinstance(raw, str):
        _add(errors, spec.name, "must be text")
        return None
    if spec.max_length is not None and len(raw) > spec.max_length:
        _add(errors, spec.name, f"must be at most {spec.max_length} characters")
        return None
    if spec.kind == "email" and check_email and not EMAIL_PATTERN.match(raw):
        _add(errors, spec.name, "not a valid email address")
        return None
    if spec.kind == "phone" and not PHONE_PATTERN.match(raw):
        _add(errors, spec.name,
             "not a valid phone number (7 to 20 characters: +, digits, spaces, - ( ))")
        return None
    if spec.kind == "choice" and raw not in spec.choices:
        _add(errors, spec.name, f"must be one of: {', '.join(spec.choices)}")
        return None
    if spec.kind == "date":
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            _add(errors, spec.name, "must be a date like 2025-12-31")
            return None
    return raw


def validate(
    entity: EntitySpec,
    data: dict[str, Any],
    *,
    partial: bool,
    check_email: bool = True,
) -> tuple[dict[str, Any], Errors]:
    """Validate a submitted record. Returns the clean values given (plus defaults when creating)
    and field-level errors. Unknown fields are errors too, so that typos do not pass silently."""
    errors: Errors = {}
    clean: dict[str, Any] = {}
    allowed = set(entity.field_names) | {"owner"}
    for name in data:
        if name not in allowed and name not in ("id", "created_at", "updated_at"):
            _add(errors, name, "unknown field")
    for spec in entity.fields:
        if spec.name in data:
            clean[spec.name] = clean_value(spec, data[spec.name], errors, check_email=check_email)
            if clean[spec.name] is None and spec.default is not None and not spec.required:
                clean[spec.name] = spec.default
        elif not partial:
            if spec.required:
                _add(errors, spec.name, "this field is required")
            clean[spec.name] = spec.default
    if "owner" in data:
        owner = data["owner"]
        if owner is not None and not isinstance(owner, str):
            _add(errors, "owner", "must be a username")
        elif owner:
            clean["owner"] = owner.strip()
    return clean, errors
