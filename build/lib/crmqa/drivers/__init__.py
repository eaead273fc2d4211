"""Drivers: how steps reach a CRM (api on requests, ui on Playwright). They meet the engine
through the small protocol in `base.py` and register in `registry.py`."""
