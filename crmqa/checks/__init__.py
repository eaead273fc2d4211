"""crmqa.checks."""
