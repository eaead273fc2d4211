"""crmqa.sandbox."""
