"""crmqa.pytest_plugin."""
