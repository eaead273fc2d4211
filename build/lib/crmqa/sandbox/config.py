"""How one sandbox is started: database, seed, faults and the seeded users' password."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from crmqa.sandbox.faults import FaultSet

DEFAULT_PASSWORD = "sandbox-pass"
PASSWORD_ENV = "CRMQA_SANDBOX_PASSWORD"


def password_from_env() -> str:
    """The seeded users' password: env CRMQA_SANDBOX_PASSWORD, else the documented default."""
    return os.environ.get(PASSWORD_ENV) or DEFAULT_PASSWORD


@dataclass(frozen=True)
class SandboxSettings:
    """Everything that makes one sandbox differ from another."""

    db_path: Path | None = None  # None: a private in-memory database
    seed: int = 1
    faults: FaultSet = field(default_factory=FaultSet)
    password: str = field(default_factory=password_from_env)
    lead_count: int = 60
    legacy_leads: int = 40  # leads migrated from the legacy CRM at first fill (legacy.py)
    token_ttl_seconds: int = 8 * 3600
    lockout_attempts: int = 5
    lockout_seconds: int = 15 * 60
    # Every answer waits this long first, as a CRM across a network does (benchmarks of
    # parallel runs); the wait is asynchronous, so concurrent requests wait together.
    latency_ms: int = 0
