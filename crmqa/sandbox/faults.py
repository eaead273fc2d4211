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
    """One seeded defect: its name, the category of case that should catch it, what it does."""

    name: str
    category: str
    description: str


CATALOGUE: tuple[Fault, ...] = (
    Fault("search_case_sensitive", "functional",
          "lead search matches only the exact letter case"),
    Fault("search_ignores_page", "functional",
          "a lead search with q always returns the first page, whatever page is asked for"),
    Fault("wrong_total_count", "functional",
          "the lead list's total (and 'Showing A-B of N') is one less than the real count"),
    Fault("edit_drops_phone", "functional",
          "editing a lead silently clears its phone"),
    Fault("delete_leaves_listed", "functional",
          "a deleted lead answers 404 by id but stays in lists, search and export"),
    Fault("duplicate_email_allowed", "functional",
          "a second lead with an existing email is accepted"),
    Fault("case_status_skip", "functional",
          "a service case can jump from new straight to closed"),
    Fault("export_drops_non_ascii", "migration",
          "CSV export silently drops non-ASCII characters (Chinese, Cyrillic names)"),
    Fault("import_accepts_invalid_email", "migration",
          "CSV import accepts rows whose email is not valid"),
    Fault("import_drops_last_row", "migration",
          "CSV import silently skips the last data row and does not report it"),
    Fault("idor_leads", "security",
          "a sales user can read another user's lead by id"),
    Fault("delete_without_token", "security",
          "DELETE /api/leads/{id} works without any token"),
    Fault("sql_injection_search", "security",
          "the lead search text is pasted into the SQL query"),
    Fault("xss_lead_name", "security",
          "lead names are rendered unescaped in the web UI (stored XSS)"),
    Fault("csv_formula_injection", "security",
          "CSV export lets cells starting with = + - @ through as spreadsheet formulas"),
    Fault("leak_password_hash", "security",
          "user list responses include each user's password hash"),
    Fault("no_lockout", "security",
          "no account lockout after repeated failed logins"),
    Fault("slow_search", "performance",
          "every lead search with q takes over a second"),
    Fault("missing_label", "ux",
          "the lead form's Email input loses its label"),
    Fault("no_confirmation", "ux",
          "no role=status confirmation message after saving a lead"),
)

# ----------------------------------------------------------- faults under concurrency
# Defects that show only when requests overlap (crmqa/sandbox/contention.py): a functional
# case, one request at a time, never meets them; a load case does. Kept apart from the list
# above so that the two grow without touching each other.
CONCURRENCY_FAULTS: tuple[Fault, ...] = (
    Fault("concurrent_writes_fail", "performance",
          "when more than 3 lead writes overlap, the others answer 500 'database is locked'"),
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
