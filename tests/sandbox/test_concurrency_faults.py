"""Faults that show only under concurrency: one request at a time never meets them.

`concurrent_writes_fail` is probed here by a burst of lead creates sent together; the probe is
also part of tests/sandbox/test_faults.py's catalogue-wide checks (clean sandbox shows no
defect, the fault changes only what it names).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sandbox_data import new_lead

from crmqa.sandbox.contention import WRITE_SLOTS
from crmqa.sandbox.testing import SandboxClient, SandboxHandle

BURST = 12


def _burst(handle: SandboxHandle, token: str, count: int = BURST) -> list[requests.Response]:
    """`count` lead creates released at the same moment, each on its own connection."""
    gate = threading.Barrier(count)

    def create(_: int) -> requests.Response:
        with requests.Session() as http:
            gate.wait(timeout=10)
            return http.post(f"{handle.base_url}/api/leads", json=new_lead(),
                             headers={"Authorization": token}, timeout=10)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(create, range(count)))


def concurrent_writes_fail(probe: Any) -> bool:
    """Does a burst of lead creates sent together get a 500 'database is locked'?"""
    token = probe.api().http.headers["Authorization"]
    return any(response.status_code == 500 and "locked" in response.text
               for response in _burst(probe.handle, token))


@pytest.mark.slow
def test_overlapping_writes_fail_and_single_ones_never_do(
        sandbox_factory: Callable[..., SandboxHandle]) -> None:
    faulty = sandbox_factory(["concurrent_writes_fail"])
    admin = SandboxClient(faulty, "admin")
    try:
        for _ in range(8):  # one at a time: never refused
            assert admin.post("/api/leads", json=new_lead()).status_code == 201
        answers = _burst(faulty, admin.http.headers["Authorization"])
        statuses = sorted(response.status_code for response in answers)
        refused = [r for r in answers if r.status_code == 500]
        assert refused, statuses
        assert all(r.json() == {"detail": "database is locked"} for r in refused)
        assert statuses.count(201) >= WRITE_SLOTS  # the first ones in get through
        # reads are never limited
        assert admin.get("/api/leads", params={"page_size": 5}).status_code == 200
    finally:
        admin.close()


def test_clean_sandbox_takes_a_burst_of_writes(sandbox: SandboxHandle) -> None:
    admin = SandboxClient(sandbox, "admin")
    try:
        answers = _burst(sandbox, admin.http.headers["Authorization"], 6)
        assert [r.status_code for r in answers] == [201] * 6
    finally:
        admin.close()


def test_the_clean_sandbox_keeps_answering_concurrent_searches(sandbox: SandboxHandle) -> None:
    """Searches (which call a Python function inside SQLite) and token checks (run in the
    thread pool) at the same time once deadlocked the sandbox's one connection: every
    request then waited forever. Each of these must be answered."""
    with requests.Session() as login:
        token = "Bearer " + login.post(
            f"{sandbox.base_url}/api/auth/token",
            json={"username": "admin", "password": sandbox.password}, timeout=10,
        ).json()["access_token"]
    paths = ["/api/contacts?q=%D0%B8", "/api/accounts?q=a", "/api/leads?q=son",
             "/api/leads?page=1", "/api/cases?q=e", "/api/opportunities?q=o"]

    def hammer(worker: int) -> int:
        answered = 0
        with requests.Session() as http:
            for round_ in range(15):
                path = paths[(worker + round_) % len(paths)]
                reply = http.get(f"{sandbox.base_url}{path}",
                                 headers={"Authorization": token}, timeout=15)
                assert reply.status_code == 200, (path, reply.status_code, reply.text[:200])
                answered += 1
        return answered

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(hammer, range(8))) == 8 * 15
