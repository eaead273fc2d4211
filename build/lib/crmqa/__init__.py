"""crmqa: acceptance testing of CRM systems from YAML plans."""

__version__ = "0.1.0"
