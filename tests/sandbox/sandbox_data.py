"""Test data helpers for the sandbox tests (unique per process, so xdist workers never clash)."""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Any

_counter = itertools.count(1)


def unique_email(prefix: str = "lead") -> str:
    """An email no other test (or xdist worker) uses."""
    return f"{prefix}.{os.getpid()}.{next(_counter)}.{uuid.uuid4().hex[:6]}@test.example"


def unique_word(prefix: str = "w") -> str:
    """A token to search for that matches only what this test created."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def new_lead(**overrides: Any) -> dict[str, Any]:
    """A valid lead payload with a unique email."""
    lead: dict[str, Any] = {"first_name": "Test", "last_name": "Lead", "email": unique_email(),
                            "company": "Acme Testing", "phone": "+1 555 010-2000"}
    lead.update(overrides)
    return lead
