"""crmqa.drivers.api."""
