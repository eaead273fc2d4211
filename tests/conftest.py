"""Shared fixtures for crmqa's own tests: a real sandbox CRM on a free loopback port."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests

from crmqa.sandbox.testing import SandboxHandle, running_sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """One clean sandbox (no faults, seed 1) shared by the whole session.

    Tests that change shared state should create their own records (or use `sandbox_factory`).
    """
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def admin_api(sandbox: SandboxHandle) -> Iterator[requests.Session]:
    """The sandbox's API as admin, to look at its state behind the engine's back."""
    http = requests.Session()
    # No keep-alive: between two looks a test may run a case for longer than the sandbox
    # keeps an idle connection, and a reused closed connection is reset (seen in CI).
    http.headers["Connection"] = "close"
    token = http.post(f"{sandbox.base_url}/api/auth/token",
                      json={"username": "admin", "password": sandbox.password},
                      timeout=5).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    yield http
    http.close()


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


_MODULE_GROUP = re.compile(r"""^pytestmark\b.*xdist_group\(\s*(?:name\s*=\s*)?["']([^"']+)""",
                           re.MULTILINE)


@cache
def _module_group(path: Path) -> str | None:
    """The `xdist_group` a test module's `pytestmark` puts all its tests in, if any."""
    try:
        found = _MODULE_GROUP.search(path.read_text(encoding="utf-8"))
    except OSError:
        return None
    return found.group(1) if found else None


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Honour module-level `xdist_group` marks under `--dist loadgroup`.

    pytest 9.2 stopped xdist's loadgroup from seeing the marks (pytest-xdist issue #1386):
    the scheduler groups by the mark read from the module's source instead.
    """
    if config.getvalue("dist") != "loadgroup" or (config.args and any(
            arg.endswith((".yaml", ".yml")) for arg in config.args)):
        return None  # a plan run: crmqa's own scheduler takes it
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class ModuleGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _module_group(root / nodeid.split("::", 1)[0]) or nodeid

    return ModuleGroupScheduling(config, log)
