"""Fixtures for the sandbox's own tests: logged-in API clients and unique test data."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from crmqa.sandbox.testing import SandboxClient, SandboxHandle


@pytest.fixture(scope="session")
def clients(sandbox: SandboxHandle) -> Iterator[Callable[[str | None], SandboxClient]]:
    """`clients("sales")`: a client logged in as a seeded user on the shared clean sandbox."""
    cache: dict[str | None, SandboxClient] = {}

    def get(username: str | None) -> SandboxClient:
        if username not in cache:
            cache[username] = SandboxClient(sandbox, username)
        return cache[username]

    yield get
    for client in cache.values():
        client.close()


@pytest.fixture
def admin(clients: Callable[[str | None], SandboxClient]) -> SandboxClient:
    return clients("admin")
