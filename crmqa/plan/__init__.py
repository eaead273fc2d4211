"""crmqa.plan."""
