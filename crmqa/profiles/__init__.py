"""crmqa.profiles."""
