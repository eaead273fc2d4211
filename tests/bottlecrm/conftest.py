"""Fixtures for tests against a real BottleCRM (PyPI `django-crm` 1.35.x).

The first run on a machine installs BottleCRM into .cache/bottlecrm and migrates a
template database (several minutes); later runs copy the template and start in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .provision import BottleCrm, running_bottlecrm


@pytest.fixture(scope="session")
def bottlecrm() -> Iterator[BottleCrm]:
    """One BottleCRM for the session: an org with an ADMIN and a USER, each with a token."""
    with running_bottlecrm() as instance:
        yield instance
