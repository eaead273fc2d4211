"""crmqa's canonical CRM model: entities, operations, fields, and the names of screens.

Portable suites are written against these names; a target profile says how one product
implements them. A name from this vocabulary that a product lacks makes a case not applicable
on that product; a name outside it that the profile does not define either is a mistake in the
plan (most often a typo), reported before anything runs.

Screens are named `<entity>_<kind>` (`lead_list`, `lead_form`) plus a few that belong to no
entity (`login`, `home`). A profile may add screens of its own (`lead_change`); only plans
written for that product should use them.
"""

from __future__ import annotations

ENTITIES = ("lead", "contact", "account", "opportunity", "case", "user", "role")
OPERATIONS = (
    "create",
    "get",
    "update",
    "delete",
    "list",
    "search",
    "import",
    "export",
    "convert",
)

# Operations that change what the CRM holds: a target must allow them (`destructive_ok`).
CHANGING_OPERATIONS = frozenset({"create", "update", "delete", "import", "convert"})

_COMMON_FIELDS = ("id", "owner", "created_at", "updated_at")
FIELDS: dict[str, tuple[str, ...]] = {
    "lead": ("first_name", "last_name", "email", "phone", "company", "title", "status",
             "source", "notes", *_COMMON_FIELDS),
    "contact": ("first_name", "last_name", "email", "phone", "title", "account_id", "notes",
                *_COMMON_FIELDS),
    "account": ("name", "industry", "website", "phone", "notes", *_COMMON_FIELDS),
    "opportunity": ("name", "stage", "amount", "close_date", "account_id", "contact_id",
                    "notes", *_COMMON_FIELDS),
    "case": ("subject", "type", "status", "priority", "description", "contact_id", "account_id",
             *_COMMON_FIELDS),
    "user": ("username", "first_name", "last_name", "email", "role", "active", "locked",
             *_COMMON_FIELDS),
    "role": ("name", "description", "permissions", *_COMMON_FIELDS),
}

# Fields the CRM sets itself: clients read them, never write them.
SYSTEM_FIELDS = frozenset({"id", "created_at", "updated_at"})

# The kind of value a canonical field holds when the plan's rule does not say (`format`):
# generated cases pick their value classes by it. Unnamed fields are text.
FIELD_KINDS: dict[str, str] = {
    "email": "email", "phone": "phone", "website": "url", "amount": "number",
    "close_date": "date", "created_at": "timestamp", "updated_at": "timestamp",
    "id": "id", "owner": "username", "account_id": "ref", "contact_id": "ref",
    "active": "bool", "locked": "bool", "permissions": "list",
}

# What converting a lead makes, and which lead field each new record's field takes: the
# canonical meaning of `lead.convert` (a plan may narrow or extend it).
CONVERSION: dict[str, dict[str, dict[str, str]]] = {
    "lead": {
        "contact": {"first_name": "first_name", "last_name": "last_name", "email": "email",
                    "phone": "phone", "title": "title"},
        "account": {"name": "company"},
    },
}
# Where a conversion's answer names each new record (the API driver reads them so).
CONVERSION_IDS: dict[str, str] = {
    "contact": "contact_id", "account": "account_id", "opportunity": "opportunity_id",
}

_MODULES = {"opportunity": "opportunities"}


def entity_module(entity: str) -> str:
    """The CRM area an entity's cases belong to (`lead` -> `leads`), as the suites name it."""
    return _MODULES.get(entity, f"{entity}s")


# What each kind of screen shows besides the entity's fields, by canonical element name.
SCREEN_KINDS: dict[str, tuple[str, ...]] = {
    "list": ("table", "rows", "links", "search", "search_button", "showing", "next",
             "previous", "new", "message", "no_results", "sort", "page_size", "select_all",
             "bulk_delete", "export"),
    "form": ("save", "cancel", "errors", "message"),
    "edit": ("save", "cancel", "errors", "message", "delete"),
    "detail": ("edit", "delete", "convert", "message", "title", "back"),
    "delete": ("confirm", "cancel", "question", "message"),
    "import": ("file", "submit", "imported_count", "rejected_count", "rejected_rows",
               "message", "template"),
    "export": ("download", "message", "format"),
    "convert": ("confirm", "cancel", "message"),
}
# Kinds whose forms and buttons change records (a target must allow it: `destructive_ok`).
CHANGING_SCREEN_KINDS = frozenset({"form", "edit", "delete", "import", "convert"})

# Screens of no entity, with their elements.
OTHER_SCREENS: dict[str, tuple[str, ...]] = {
    "login": ("username", "password", "submit", "error", "message"),
    "home": ("message", "search", "logout", "menu"),
}


def screen_parts(name: str) -> tuple[str, str] | None:
    """(entity, kind) of a canonical entity screen (`lead_list` -> ("lead", "list"))."""
    entity, _, kind = name.partition("_")
    if entity in ENTITIES and kind in SCREEN_KINDS:
        return entity, kind
    return None


def is_canonical_screen(name: str) -> bool:
    """True for the screens portable suites may name (`lead_form`, `login`)."""
    return name in OTHER_SCREENS or screen_parts(name) is not None


def canonical_screens() -> list[str]:
    """Every canonical screen name, for suggestions."""
    return [*OTHER_SCREENS, *(f"{e}_{k}" for e in ENTITIES for k in SCREEN_KINDS)]


def canonical_elements(screen: str) -> frozenset[str]:
    """The element names a canonical screen may have: its kind's controls, the entity's
    fields, and `<field>_error` on screens that edit them. Empty for other screens."""
    if screen in OTHER_SCREENS:
        return frozenset(OTHER_SCREENS[screen])
    parts = screen_parts(screen)
    if parts is None:
        return frozenset()
    entity, kind = parts
    fields = FIELDS[entity]
    names = set(SCREEN_KINDS[kind]) | set(fields)
    if kind in ("form", "edit"):
        names.update(f"{field}_error" for field in fields)
    return frozenset(names)


def changes_records(screen: str) -> bool:
    """True when acting on this screen may create, change or delete records."""
    parts = screen_parts(screen)
    return parts is not None and parts[1] in CHANGING_SCREEN_KINDS
