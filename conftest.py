"""Root conftest: crmqa itself is a pytest plugin registered by its entry point, so
`pytest plans/sandbox.yaml` needs nothing here."""
