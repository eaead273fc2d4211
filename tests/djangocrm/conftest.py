"""Fixtures for tests against a real Django CRM (PyPI `django-crm-admin` 3.1).

The first run on a machine installs Django CRM into .cache/djangocrm and sets up a template
database (a few minutes); later runs copy the template and start in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .provision import DjangoCrm, running_djangocrm


@pytest.fixture(scope="session")
def djangocrm() -> Iterator[DjangoCrm]:
    """One Django CRM for the session, with its users' passwords."""
    with running_djangocrm() as instance:
        yield instance
