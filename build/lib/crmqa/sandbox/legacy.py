"""The sandbox's migration story: leads from a legacy CRM, migrated by the vendor's own tool.

Every sandbox holds, beside its demo data, the leads of an imaginary legacy CRM ("LegacyCRM"),
migrated when the database was first filled, as a vendor would have done before acceptance.
`legacy_leads()` makes the legacy extract, deterministically (no Faker: the committed fixture
fixtures/migration/legacy_leads.csv must stay byte-identical across library versions;
`crmqa sandbox --export-legacy PATH` writes it, and a test compares the two). It holds what
migrations trip over: Chinese and Russian names, names with apostrophes, e-mails in capitals or
with spaces around them, phones in several formats, long notes, notes with line breaks and
quotes, and times in Moscow's local time.

`migrate_legacy(store)` is the vendor's migration tool. Run twice, as vendors do (a trial, then
the real one), it must not duplicate anything. The seeded migration faults change exactly one
thing each: rows with non-Latin names dropped, notes truncated at 255 characters, one
picklist value mapped wrongly, times stored as if Moscow were UTC, owners lost, and records
duplicated on the second run.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from crmqa.sandbox.entities import ENTITIES
from crmqa.sandbox.store import Store

LEGACY_COLUMNS = ("LegacyId", "FirstName", "LastName", "Email", "Phone", "Company", "Status",
                  "Source", "Owner", "Notes", "CreatedAt")
LEGACY_ZONE = "Europe/Moscow"
LEGACY_DOMAIN = "legacy.example"

# the vendor's mapping, as the customer's migration spec (plans/sandbox.yaml) describes it
STATUS_MAP = {"Open": "new", "Working": "contacted", "Nurturing": "contacted",
              "Qualified": "qualified", "Disqualified": "unqualified"}
SOURCE_MAP = {"Web": "web", "Referral": "referral", "Trade show": "event",
              "Cold call": "cold_call", "Partner": "partner", "Other": "other"}
OWNER_MAP = {"j.smith": "sales", "m.jones": "sales2", "a.petrova": "manager", "l.wei": "sales"}

_NAMES = (
    ("Alice", "Morgan"), ("Иван", "Петров"), ("伟", "王"), ("Brian", "O'Connor"),
    ("Мария", "Смирнова"), ("芳", "李"), ("Chloé", "Dubois"), ("Дмитрий", "Кузнецов"),
    ("静", "张"), ("Dana", "D'Souza"), ("Ольга", "Иванова"), ("磊", "刘"), ("Evan", "Walsh"),
    ("Сергей", "Попов"), ("敏", "陈"), ("Fiona", "McKay"), ("Анна", "Соколова"), ("洋", "杨"),
    ("George", "Ng"), ("Павел", "Лебедев"),
)
_PHONES = ("+7 495 123-45-{n:02d}", "(212) 555-01{n:02d}", "+86 10 6552 {n:04d}",
           "8-800-555-35-{n:02d}", "")
_NOTES = (
    "",
    "Met at the spring fair; wants a demo.",
    "Two lines:\nfirst call done,\nsecond call booked.",
    'Said "call me after the 15th".',
    "Прислать коммерческое предложение до пятницы.",
    "需要报价 — 请尽快回复。",
    "Priority customer 🚀 — renewal in Q3.",
    "Long history. " + "Called, left a message, emailed the brochure, followed up. " * 6,
)


def legacy_leads(count: int = 40) -> list[dict[str, str]]:
    """The legacy extract: `count` leads, the same ones every time."""
    rows = []
    start = datetime(2023, 3, 1, 9, 15)
    statuses, sources, owners = list(STATUS_MAP), list(SOURCE_MAP), list(OWNER_MAP)
    for index in range(count):
        first, last = _NAMES[index % len(_NAMES)]
        handle = f"lead{index + 1:03d}"
        email = f"{handle}@{LEGACY_DOMAIN}"
        if index % 7 == 3:
            email = email.upper()  # the legacy CRM kept whatever people typed
        if index % 9 == 5:
            email = f"  {email} "
        rows.append({
            "LegacyId": f"L-{index + 1:04d}",
            "FirstName": first,
            "LastName": last,
            "Email": email,
            "Phone": _PHONES[index % len(_PHONES)].format(n=index),
            "Company": f"Legacy Customer {index // 3 + 1}",
            "Status": statuses[index % len(statuses)],
            "Source": sources[index % len(sources)],
            "Owner": owners[index % len(owners)],
            "Notes": _NOTES[index % len(_NOTES)],
            "CreatedAt": (start + timedelta(days=3 * index, minutes=17 * index)).strftime(
                "%Y-%m-%d %H:%M:%S"),
        })
    return rows


def write_legacy_csv(path: Path, count: int = 40) -> Path:
    """Write the legacy extract as the legacy CRM exported it (UTF-8 CSV with a header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LEGACY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(legacy_leads(count))
    return path


def migrate_legacy(store: Store, count: int = 40) -> None:
    """The vendor's migration tool, run twice (trial, then real), into `store`."""
    for _ in range(2):
        _migrate_once(store, count)


def _migrate_once(store: Store, count: int) -> None:
    leads = ENTITIES["leads"]
    faults = store.faults
    existing = {str(row[0]) for row in store.conn.execute("SELECT email FROM leads")}
    store.conn.execute("BEGIN")
    try:
        for row in legacy_leads(count):
            record = _mapped(row, faults)
            if record is None:
                continue
            if record["email"] in existing and not faults.active(
                    "migration_duplicates_on_rerun"):
                continue  # a re-run updates nothing twice
            created_at = _created_at(row["CreatedAt"], faults)
            store.insert(leads, record, created_at=created_at)
        store.conn.execute("COMMIT")
    except Exception:
        store.conn.execute("ROLLBACK")
        raise


def _mapped(row: dict[str, str], faults: Any) -> dict[str, Any] | None:
    if faults.active("migration_drops_non_ascii") and not (
            row["FirstName"] + row["LastName"]).isascii():
        return None
    status_map = dict(STATUS_MAP)
    if faults.active("migration_status_map_wrong"):
        status_map["Nurturing"] = "new"
    notes = row["Notes"] or None
    if notes and faults.active("migration_truncates_notes"):
        notes = notes[:255]
    return {
        "first_name": row["FirstName"].strip(),
        "last_name": row["LastName"].strip(),
        "email": row["Email"].strip().lower(),
        "phone": row["Phone"] or None,
        "company": row["Company"],
        "title": None,
        "status": status_map[row["Status"]],
        "source": SOURCE_MAP[row["Source"]],
        "owner": "admin" if faults.active("migration_loses_owner") else OWNER_MAP[row["Owner"]],
        "notes": notes,
    }


def _created_at(local: str, faults: Any) -> str:
    moment = datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
    if not faults.active("migration_timezone_shift"):
        moment = moment.replace(tzinfo=ZoneInfo(LEGACY_ZONE)).astimezone(ZoneInfo("UTC"))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
