"""Deterministic demo data from Faker: the same --seed gives the same records.

Leads are spread over the sales users and the manager so that ownership rules show, and
include Chinese and Russian names so that encoding defects show.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

from crmqa.sandbox.entities import (
    CASE_PRIORITIES,
    CASE_STATUSES,
    CASE_TYPES,
    ENTITIES,
    LEAD_SOURCES,
    OPPORTUNITY_STAGES,
)
from crmqa.sandbox.store import Store

SEED_USERS: tuple[tuple[str, str, str], ...] = (
    ("admin", "admin", "Ada Admin"),
    ("manager", "manager", "Max Manager"),
    ("sales", "sales", "Sam Sales"),
    ("sales2", "sales", "Sasha Sales"),
    ("viewer", "viewer", "Vic Viewer"),
)
LEAD_OWNERS = ("sales", "sales2", "manager", "sales")
# Lead statuses weighted like a real pipeline; "converted" is left to the convert operation.
SEED_STATUSES = ("new", "new", "contacted", "qualified", "unqualified")
EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _ascii_email(fake: Faker, index: int) -> str:
    # Emails stay ASCII (and unique by index) even for zh_CN / ru_RU people.
    return f"{fake.unique.user_name()}.{index}@example.{['com', 'org', 'net'][index % 3]}"


def _phone(rng: random.Random) -> str:
    return f"+{rng.randint(1, 49)} {rng.randint(100, 999)} {rng.randint(100, 999)}-" \
           f"{rng.randint(1000, 9999)}"


def _stamp(index: int) -> str:
    return (EPOCH + timedelta(hours=7 * index)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_database(store: Store, *, seed: int, password_hashes: dict[str, str],
                  lead_count: int = 60) -> None:
    """Fill an empty database with users and demo records for `seed`."""
    rng = random.Random(seed)
    faker_en = Faker("en_US")
    faker_zh = Faker("zh_CN")
    faker_ru = Faker("ru_RU")
    for fake in (faker_en, faker_zh, faker_ru):
        fake.seed_instance(seed)
    email_maker = Faker("en_US")
    email_maker.seed_instance(seed + 1)

    for username, role, full_name in SEED_USERS:
        store.insert_user({
            "username": username, "role": role, "full_name": full_name,
            "email": f"{username}@sandbox.example", "password_hash": password_hashes[username],
            "created_at": _stamp(0),
        })

    leads = ENTITIES["leads"]
    store.conn.execute("BEGIN")
    try:
        for index in range(lead_count):
            # Every fifth lead is Chinese and every fifth Russian: non-ASCII on every page.
            fake = faker_zh if index % 5 == 1 else faker_ru if index % 5 == 3 else faker_en
            record: dict[str, Any] = {
                "first_name": fake.first_name(),
                "last_name": fake.last_name(),
                "email": _ascii_email(email_maker, index),
                "phone": _phone(rng) if index % 4 else None,
                "company": fake.company()[:100],
                "title": fake.job()[:100],
                "status": SEED_STATUSES[index % len(SEED_STATUSES)],
                "source": LEAD_SOURCES[rng.randrange(len(LEAD_SOURCES))],
                "owner": LEAD_OWNERS[index % len(LEAD_OWNERS)],
                "notes": None,
            }
            store.insert(leads, record, created_at=_stamp(index + 1))

        account_ids = []
        for index in range(8):
            account = store.insert(ENTITIES["accounts"], {
                "name": faker_en.company(), "industry": faker_en.bs().split()[-1][:60],
                "website": f"https://www.example{index}.com", "phone": _phone(rng),
                "owner": LEAD_OWNERS[index % len(LEAD_OWNERS)],
            }, created_at=_stamp(index + 1))
            account_ids.append(account["id"])
        contact_ids = []
        for index in range(12):
            fake = faker_ru if index % 4 == 1 else faker_en
            contact = store.insert(ENTITIES["contacts"], {
                "first_name": fake.first_name(), "last_name": fake.last_name(),
                "email": f"contact{index}@example.com", "phone": _phone(rng),
                "title": faker_en.job()[:100], "account_id": account_ids[index % 8],
                "owner": LEAD_OWNERS[index % len(LEAD_OWNERS)],
            }, created_at=_stamp(index + 1))
            contact_ids.append(contact["id"])
        for index in range(10):
            store.insert(ENTITIES["opportunities"], {
                "name": f"{faker_en.catch_phrase()[:100]} deal",
                "stage": OPPORTUNITY_STAGES[index % len(OPPORTUNITY_STAGES)],
                "amount": float(rng.randrange(1000, 250000, 500)),
                "close_date": (EPOCH + timedelta(days=30 + 9 * index)).date().isoformat(),
                "account_id": account_ids[index % 8], "contact_id": contact_ids[index % 12],
                "owner": LEAD_OWNERS[index % len(LEAD_OWNERS)],
            }, created_at=_stamp(index + 1))
        for index in range(10):
            store.insert(ENTITIES["cases"], {
                "subject": faker_en.sentence(nb_words=5)[:150],
                "type": CASE_TYPES[index % 3],
                "status": CASE_STATUSES[index % 4],
                "priority": CASE_PRIORITIES[index % 3],
                "description": faker_en.paragraph(),
                "contact_id": contact_ids[index % 12], "account_id": account_ids[index % 8],
                "owner": LEAD_OWNERS[index % len(LEAD_OWNERS)],
            }, created_at=_stamp(index + 1))
        store.conn.execute("COMMIT")
    except Exception:
        store.conn.execute("ROLLBACK")
        raise
