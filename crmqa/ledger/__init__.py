"""The defect ledger: defects across the runs of a campaign, and the suspension state (SQLite)."""

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
    "Defect",
    "DefectStatus",
    "Ledger",
    "LedgerError",
    "RunRecord",
    "params_hash",
]
