"""crmqa.reports."""
