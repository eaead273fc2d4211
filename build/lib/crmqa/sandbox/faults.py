"""The catalogue of seeded faults: one registry that `--list-faults`, the docs and the code consult.

Each fault is a realistic vendor defect, off by default. The code checks a fault with
`faults.active("name")` at the exact place the defect lives, so that a fault changes only
what it names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """One seeded defect: its name, the category of case that should catch it, what it does,
    and where its behaviour shows (`touches`).

    `touches` names the surfaces in the words plans use: canonical operations
    (`lead.search`, `*.update`), screens (`screen:lead_list`) and `http` for anything only a
    raw request sees (headers, cookies, the token endpoint). `crmqa calibrate` serves faults
    whose surfaces do not overlap in one sandbox, and blames a failed case on the fault whose
    surfaces the case uses; the fault matrix in tests/sandbox/test_faults.py checks that a
    fault changes nothing else.
    """

    name: str
    category: str
    description: str
    touches: tuple[str, ...] = ()


# How long slow_save_feedback hides the confirmation (the `.flash.late` rule in
# static/style.css says the same): well over the 4 s suites/ux allows, so that it is caught
# however quickly the page itself arrives, and within the 12 s expect_feedback watches for a
# late message (3 x the budget), so that it is reported as late rather than missing.
SLOW_FEEDBACK_S = 6.0

_LEAD_SEARCH = ("lead.search", "lead.export", "screen:lead_list", "screen:lead_export")
_LEAD_WRITE = ("lead.create", "lead.update", "lead.import", "screen:lead_form",
               "screen:lead_edit", "screen:lead_import")

CATALOGUE: tuple[Fault, ...] = (
    # -- functional: leads -------------------------------------------------------------------
    Fault("search_case_sensitive", "functional",
          "lead search matches only the exact letter case", _LEAD_SEARCH),
    Fault("search_ignores_page", "functional",
          "a lead search with q always returns the first page, whatever page is asked for",
          ("lead.search", "screen:lead_list")),
    Fault("wrong_total_count", "functional",
          "the lead list's total (and 'Showing A-B of N') is one less than the real count",
          ("lead.search", "lead.list", "screen:lead_list")),
    Fault("edit_drops_phone", "functional",
          "editing a lead silently clears its phone", ("lead.update", "screen:lead_edit")),
    Fault("delete_leaves_listed", "functional",
          "a deleted lead answers 404 by id but stays in lists, search and export",
          ("lead.delete", "lead.list", *_LEAD_SEARCH)),
    Fault("duplicate_email_allowed", "functional",
          "a second lead with an existing email is accepted", _LEAD_WRITE),
    Fault("sort_ignores_direction", "functional",
          "a descending lead sort (sort=-field) answers in ascending order",
          ("lead.search", "lead.list", "screen:lead_list")),
    Fault("source_filter_ignored", "functional",
          "the lead source filter has no effect: every source is listed",
          ("lead.list", *_LEAD_SEARCH)),
    Fault("total_ignores_filters", "functional",
          "a filtered lead list reports the total of the unfiltered list",
          ("lead.search", "lead.list", "screen:lead_list")),
    Fault("search_misses_email", "functional",
          "lead search no longer looks into the email address", _LEAD_SEARCH),
    Fault("search_ascii_casefold", "functional",
          "lead search ignores letter case for ASCII only (Петров is not found by петров)",
          _LEAD_SEARCH),
    Fault("edit_mangles_non_latin", "functional",
          "editing a lead stores non-Latin text mangled (UTF-8 read as Windows-1252)",
          ("lead.update", "screen:lead_edit")),
    Fault("company_max_length_unchecked", "functional",
          "a lead company longer than its 100-character limit is accepted", _LEAD_WRITE),
    Fault("apostrophe_rejected", "functional",
          "lead names with an apostrophe or a quote (O'Brien) are refused", _LEAD_WRITE),
    Fault("convert_drops_email", "functional",
          "converting a lead makes a contact without the lead's email",
          # it shows where the new contact is read back
          ("lead.convert", "screen:lead_detail", "contact.get", "screen:contact_detail")),
    Fault("convert_unqualified", "functional",
          "a lead that is not qualified can be converted", ("lead.convert",
                                                            "screen:lead_detail")),
    # -- functional: other entities and workflows -------------------------------------------
    Fault("case_status_skip", "functional",
          "a service case can jump from new straight to closed", ("case.update",)),
    Fault("case_closed_reopens", "functional",
          "a closed service case can be moved back to in progress", ("case.update",)),
    Fault("case_reopen_refused", "functional",
          "a resolved service case cannot be reopened (resolved -> in progress is refused)",
          ("case.update",)),
    Fault("contact_update_clears_fields", "functional",
          "changing one field of a contact clears the fields the change did not name",
          ("contact.update", "screen:contact_edit")),
    Fault("contact_delete_keeps_record", "functional",
          "deleting a contact answers success but the contact stays",
          ("contact.delete", "contact.get", "contact.list", "contact.search",
           "screen:contact_*")),
    Fault("contact_timestamps_no_zone", "functional",
          "new contacts get created_at/updated_at in local time without a time zone",
          ("contact.*", "screen:contact_*")),
    Fault("opportunity_amount_truncated", "functional",
          "an opportunity's amount loses its cents (1234.56 is stored as 1234)",
          ("opportunity.*", "screen:opportunity_*")),
    Fault("user_role_change_ignored", "functional",
          "changing a user's role answers success but the user keeps the old role",
          ("user.update", "user.get", "user.list")),
    # -- migration: import and export -------------------------------------------------------
    Fault("export_drops_non_ascii", "migration",
          "CSV export silently drops non-ASCII characters (Chinese, Cyrillic names)",
          ("lead.export", "screen:lead_export")),
    Fault("import_accepts_invalid_email", "migration",
          "CSV import accepts rows whose email is not valid",
          ("lead.import", "screen:lead_import")),
    Fault("import_drops_last_row", "migration",
          "CSV import silently skips the last data row and does not report it",
          ("lead.import", "screen:lead_import")),
    Fault("import_loses_company", "migration",
          "CSV import drops the company of every imported lead",
          ("lead.import", "screen:lead_import")),
    # -- migration: the vendor's migration of the legacy leads (crmqa/sandbox/legacy.py) -------
    Fault("migration_drops_non_ascii", "migration",
          "the legacy migration skips leads whose names are not Latin (Chinese, Cyrillic)",
          ("migration:lead",)),
    Fault("migration_truncates_notes", "migration",
          "the legacy migration cuts notes to 255 characters", ("migration:lead",)),
    Fault("migration_status_map_wrong", "migration",
          "the legacy migration maps the legacy status Nurturing to new (not contacted)",
          ("migration:lead",)),
    Fault("migration_timezone_shift", "migration",
          "the legacy migration stores Moscow's local times as if they were UTC",
          ("migration:lead",)),
    Fault("migration_loses_owner", "migration",
          "the legacy migration makes the migrating admin the owner of every lead",
          ("migration:lead",)),
    Fault("migration_duplicates_on_rerun", "migration",
          "the legacy migration, run a second time, adds every lead again",
          ("migration:lead",)),
    # -- security ----------------------------------------------------------------------------
    Fault("idor_leads", "security",
          "a sales user can read another user's lead by id",
          ("lead.get", "screen:lead_detail")),
    Fault("idor_update_leads", "security",
          "a sales user can change another user's lead through the API", ("lead.update",)),
    Fault("idor_delete_contacts", "security",
          "a sales user can delete another user's contact", ("contact.delete",)),
    Fault("viewer_can_edit", "security",
          "a read-only (viewer) user can change records of every entity", ("*.update",)),
    Fault("delete_without_token", "security",
          "DELETE /api/leads/{id} works without any token", ("lead.delete",)),
    Fault("unauth_contact_list", "security",
          "GET /api/contacts answers every contact without a token",
          ("contact.list", "contact.search")),
    Fault("sql_injection_search", "security",
          "the lead search text is pasted into the SQL query", _LEAD_SEARCH),
    Fault("xss_lead_name", "security",
          "lead names are rendered unescaped in the web UI (stored XSS)",
          ("screen:lead_list", "screen:lead_detail", "screen:lead_delete")),
    Fault("xss_lead_list_company", "security",
          "the lead list page renders the company unescaped (stored XSS on one page)",
          ("screen:lead_list",)),
    Fault("csv_formula_injection", "security",
          "CSV export lets cells starting with = + - @ through as spreadsheet formulas",
          ("lead.export", "screen:lead_export")),
    Fault("formula_guard_partial", "security",
          "CSV export neutralises only cells starting with '=' (+, - and @ pass)",
          ("lead.export", "screen:lead_export")),
    Fault("leak_password_hash", "security",
          "user list responses include each user's password hash", ("user.list",)),
    Fault("leak_hash_user_detail", "security",
          "a single user's record (GET /api/users/{id}) includes the password hash",
          ("user.get", "user.create", "user.update")),
    Fault("no_lockout", "security",
          "no account lockout after repeated failed logins", ("screen:login", "http")),
    Fault("lockout_ui_bypass", "security",
          "a locked account can still log in through the web login form",
          ("screen:login",)),
    Fault("open_redirect_login", "security",
          "the login form follows ?next= to any site (open redirect)", ("screen:login",)),
    Fault("unknown_sort_server_error", "security",
          "a lead list sorted by a field that is not sortable answers 500 instead of "
          "refusing the request (422)", ("lead.list", "lead.search", "http")),
    Fault("update_unknown_field_server_error", "security",
          "a change (PATCH) naming a field the record does not have answers 500: every key "
          "sent is written as a column", ("*.update", "http")),
    Fault("csrf_convert_import_unchecked", "security",
          "the forms added last (the convert button on a lead's page, the import form) accept "
          "a submission without its CSRF token", ("screen:lead_detail", "screen:lead_import")),
    Fault("csrf_delete_unchecked", "security",
          "the delete confirmation pages accept a form without its CSRF token",
          ("screen:*_delete",)),
    Fault("session_cookie_not_httponly", "security",
          "the session cookie is sent without the HttpOnly flag", ("http",)),
    # -- performance and ux ------------------------------------------------------------------
    Fault("slow_search", "performance",
          "every lead search with q takes over a second",
          ("lead.search", "screen:lead_list")),
    Fault("slow_contact_create", "performance",
          "creating a contact takes over a second", ("contact.create",
                                                      "screen:contact_form")),
    Fault("missing_label", "ux",
          "the lead form's Email input loses its label", ("screen:lead_form",
                                                           "screen:lead_edit")),
    Fault("no_confirmation", "ux",
          "no role=status confirmation message after saving a lead",
          # the confirmation belongs on the page a save lands on
          ("screen:lead_form", "screen:lead_edit", "screen:lead_detail")),
    Fault("mouse_only_save", "ux",
          "the lead form's Save button is out of the tab order: only a mouse reaches it",
          ("screen:lead_form", "screen:lead_edit")),
    Fault("error_not_linked", "ux",
          "the lead form shows field errors that are not linked to their fields",
          ("screen:lead_form", "screen:lead_edit")),
    Fault("detail_scrolls_sideways", "ux",
          "a lead's detail page has a fixed width: on a phone it scrolls sideways",
          ("screen:lead_detail",)),
    Fault("slow_save_feedback", "ux",
          f"after a lead is saved in the web form its confirmation stays hidden for "
          f"{SLOW_FEEDBACK_S:g} s",
          # the form saves; the page it lands on (the lead's) shows the late message
          ("screen:lead_form", "screen:lead_edit", "screen:lead_detail")),
)

# ----------------------------------------------------------- faults under concurrency
# Defects that show only when requests overlap (crmqa/sandbox/contention.py): a functional
# case, one request at a time, never meets them; a load case does. Kept apart from the list
# above so that the two grow without touching each other.
CONCURRENCY_FAULTS: tuple[Fault, ...] = (
    Fault("concurrent_writes_fail", "performance",
          "when more than 3 lead writes overlap, the others answer 500 'database is locked'",
          # The API only: the web forms write one at a time through another route.
          touches=("lead.create", "lead.update", "lead.delete", "lead.import")),
)
CATALOGUE = (*CATALOGUE, *CONCURRENCY_FAULTS)
# -----------------------------------------------------------------------------------------

BY_NAME: dict[str, Fault] = {fault.name: fault for fault in CATALOGUE}


class UnknownFault(ValueError):
    """A fault name that is not in the catalogue."""


def parse_fault_list(text: str | Iterable[str]) -> tuple[str, ...]:
    """Turn "a,b" (or a list of names) into validated fault names; raise UnknownFault otherwise."""
    if isinstance(text, str):
        names = [part.strip() for part in text.split(",")]
    else:
        names = [str(part).strip() for part in text]
    names = [name for name in names if name]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise UnknownFault(
            f"unknown fault(s): {', '.join(unknown)}; "
            f"known faults: {', '.join(sorted(BY_NAME))} (see --list-faults)"
        )
    return tuple(dict.fromkeys(names))


class FaultSet:
    """The faults switched on for one running sandbox."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: frozenset[str] = frozenset(parse_fault_list(list(names)))

    def active(self, name: str) -> bool:
        """Is the fault `name` switched on? A misspelt name is a bug in the sandbox: fail loudly."""
        if name not in BY_NAME:
            raise KeyError(f"no such fault in the catalogue: {name}")
        return name in self.names

    def __repr__(self) -> str:
        return f"FaultSet({sorted(self.names)!r})"


def format_catalogue() -> str:
    """The text `--list-faults` prints: one fault a line with its category and description."""
    width = max(len(fault.name) for fault in CATALOGUE)
    cat_width = max(len(fault.category) for fault in CATALOGUE)
    return "\n".join(
        f"{fault.name:<{width}}  {fault.category:<{cat_width}}  {fault.description}"
        for fault in CATALOGUE
    )
