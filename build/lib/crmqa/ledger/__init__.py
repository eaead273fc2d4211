"""The defect ledger: defects, runs and the suspension state of each campaign (SQLite)."""

from crmqa.ledger.campaign import Campaign
from crmqa.ledger.lifecycle import (
    CampaignStatus,
    CycleLine,
    DefectStory,
    Lifecycle,
    campaign_status,
    cycle_lines,
    defect_stories,
    fingerprint,
)
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
    "CampaignStatus",
    "CycleLine",
    "Defect",
    "DefectStatus",
    "DefectStory",
    "Ledger",
    "LedgerError",
    "Lifecycle",
    "RunRecord",
    "campaign_status",
    "cycle_lines",
    "defect_stories",
    "fingerprint",
    "params_hash",
]
