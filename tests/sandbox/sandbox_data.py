"""Test data helpers for the sandbox tests (unique per process, so xdist workers never clash)."""

from __future__ import annotations

import itertools
import os
import re
import uuid
from typing import Any

import requests

_counter = itertools.count(1)


def unique_email(prefix: str = "lead") -> str:
    """An email no other test (or xdist worker) uses."""
    return f"{prefix}.{os.getpid()}.{next(_counter)}.{uuid.uuid4().hex[:6]}@test.example"


def unique_word(prefix: str = "w") -> str:
    """A token to search for that matches only what this test created."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def new_lead(**overrides: Any) -> dict[str, Any]:
    """A valid lead payload with a unique email."""
    lead: dict[str, Any] = {"first_name": "Test", "last_name": "Lead", "email": unique_email(),
                            "company": "Acme Testing", "phone": "+1 555 010-2000"}
    lead.update(overrides)
    return lead


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if match is None:
        raise AssertionError("no csrf_token on the page")
    return match.group(1)


def ui_login(base_url: str, username: str, password: str) -> requests.Session:
    """A browser-like session logged in through the HTML form (cookie + CSRF)."""
    http = requests.Session()
    page = http.get(f"{base_url}/login", timeout=10)
    response = http.post(f"{base_url}/login", timeout=10, data={
        "username": username, "password": password, "csrf_token": csrf_from(page.text),
        "next": "/leads"})
    if not response.url.endswith("/leads"):
        raise AssertionError(f"UI login as {username} failed: {response.status_code}")
    return http
