"""crmqa.ledger."""
