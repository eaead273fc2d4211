"""A missed response-time budget on a read is timed again; the median decides (real HTTP)."""

from __future__ import annotations

import time
from pathlib import Path

from crmqa.core.results import Outcome
from crmqa.engine import Engine
from crmqa.plan.loader import load_plan
from tests.engine.conftest import Reply, Request

PLAN = """\
id: timing
name: Timing
system: {{name: tiny}}
target: crm
targets:
  crm: {{profile: sandbox, base_url: "{base_url}", destructive_ok: true}}
cases:
  - id: READ
    title: a read within 150 ms
    steps:
      - request: {{method: GET, path: /api/leads, auth: false}}
        expect: {{status: 200, max_ms: 150}}
  - id: WRITE
    title: a write within 150 ms
    steps:
      - request: {{method: POST, path: /api/leads, auth: false, json: {{}}}}
        expect: {{status: 200, max_ms: 150}}
"""


def run_cases(tiny_server, tmp_path: Path, delays: list[float]):  # type: ignore[no-untyped-def]
    """Run both cases against a server whose answers to /api/leads wait `delays` in turn."""
    waits = iter(delays)

    def handler(request: Request) -> Reply:
        if request.path == "/api/leads":
            time.sleep(next(waits, 0.0))
        return 200, {}, {"records": [], "total": 0}

    server = tiny_server(handler)
    (tmp_path / "plan.yaml").write_text(PLAN.format(base_url=server.base_url))
    loaded = load_plan(tmp_path / "plan.yaml")
    engine = Engine(loaded, None, tmp_path / "run", "w")
    try:
        return server, [engine.run_case(case) for case in loaded.cases]
    finally:
        engine.close()


def leads_requests(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.method for r in server.requests if r.path == "/api/leads"]


def test_one_slow_answer_of_a_read_is_not_a_slow_crm(tiny_server, tmp_path: Path) -> None:
    server, (read, write) = run_cases(tiny_server, tmp_path, [0.4, 0.0, 0.0, 0.4])
    assert read.outcome is Outcome.PASSED, read.message
    (check,) = [c for c in read.steps[0].checks if c.name == "response time"]
    assert check.ok and check.actual < 150  # the median of 400 ms and two quick answers
    # a write is sent once: its slow answer fails the case, with no median
    assert write.outcome is Outcome.FAILED
    assert "expected <= 150 ms" in write.message and "median" not in write.message
    assert leads_requests(server) == ["GET", "GET", "GET", "POST"]


def test_a_read_slow_every_time_fails_with_its_three_times(tiny_server, tmp_path: Path) -> None:
    server, (read, _) = run_cases(tiny_server, tmp_path, [0.3, 0.3, 0.3])
    assert read.outcome is Outcome.FAILED
    assert "(the median of 3 tries: " in read.message
    assert leads_requests(server)[:3] == ["GET", "GET", "GET"]
