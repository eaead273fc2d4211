"""crmqa.cli."""
