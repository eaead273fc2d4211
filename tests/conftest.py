"""Shared fixtures for crmqa's own tests: a real sandbox CRM on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import pytest

from crmqa.sandbox.testing import SandboxHandle, running_sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """One clean sandbox (no faults, seed 1) shared by the whole session.

    Tests that change shared state should create their own records (or use `sandbox_factory`).
    """
    with running_sandbox() as handle:
        yield handle


SandboxFactory = Callable[..., SandboxHandle]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start extra sandboxes, e.g. with faults: `sandbox_factory(["idor_leads"])`.

    Every sandbox started through the factory is stopped when the test ends.
    """
    with contextlib.ExitStack() as stack:

        def start(faults: Sequence[str] = (), **kwargs: object) -> SandboxHandle:
            return stack.enter_context(running_sandbox(faults=faults, **kwargs))  # type: ignore[arg-type]

        yield start
