"""crmqa.drivers.ui."""
