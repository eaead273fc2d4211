"""crmqa.gates."""
