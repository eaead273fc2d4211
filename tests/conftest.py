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


# The longest work units of the test command, longest first, as CI's `--durations` measured
# them on 2 cores (seconds): the whole sandbox plan then calibration against every seeded
# fault (~500), Django CRM's provisioning and plan (~210), BottleCRM's set-up and tests, the
# other end-to-end groups. They start first, so that the run does not end with one of them
# alone on one core while the other idles. Add a group here when it becomes one of the longest.
LONGEST_FIRST = ("clean-plan", "djangocrm", "bottlecrm", "e2e-runs", "e2e-trust",
                 "e2e-generated", "migration-databases", "e2e-fuzz-csrf", "plugin-compat")


def longest_first(scopes: Sequence[str]) -> list[str]:
    """Work units in the order they start: those in LONGEST_FIRST in its order, then the
    others in their given order (xdist's: most tests first)."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    return sorted(scopes, key=lambda scope: rank.get(scope, len(rank)))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Honour module-level `xdist_group` marks under `--dist loadgroup`; start the longest
    groups first (`longest_first`).

    pytest 9.2 stopped xdist's loadgroup from seeing the marks (pytest-xdist issue #1386):
    the scheduler groups by the mark read from the module's source instead.
    """
    if config.getvalue("dist") != "loadgroup" or (config.args and any(
            arg.endswith((".yaml", ".yml")) for arg in config.args)):
        return None  # a plan run: crmqa's own scheduler takes it
    from collections import OrderedDict

    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class ModuleGroupScheduling(LoadScopeScheduling):
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return _module_group(root / nodeid.split("::", 1)[0]) or nodeid

        def _assign_work_unit(self, node: Any) -> None:
            # xdist has filled its queue (most tests first) and hands out the first unit:
            # reorder the queue once, before anything is sent.
            if not self.ordered:
                self.ordered = True
                queue = self.workqueue
                self.workqueue = OrderedDict((scope, queue[scope])
                                             for scope in longest_first(list(queue)))
            super()._assign_work_unit(node)

    return ModuleGroupScheduling(config, log)
