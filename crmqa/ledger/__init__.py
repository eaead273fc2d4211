"""The defect ledger: defects, runs and the suspension state of each campaign (SQLite)."""

from crmqa.ledger.campaign import Campaign
from crmqa.ledger.store import (
    DEFAULT_LEDGER_PATH,
    Defect,
    DefectStatus,
    Ledger,
    LedgerError,
    RunRecord,
    params_hash,
)

__all__ = [
    "DEFAULT_LEDGER_PATH",
    "Campaign",
    "Defect",
    "DefectStatus",
    "Ledger",
    "LedgerError",
    "RunRecord",
    "params_hash",
]
