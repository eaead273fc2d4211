"""crmqa.engine."""
