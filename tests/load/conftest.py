"""Fixtures for the load tests: a plan around the cases a test writes, run by the engine.

Every load here runs real Locust (child processes) against a real sandbox on 127.0.0.1, and
is bounded by its shape: a few users for a few seconds.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crmqa.core.results import CaseResult
from crmqa.engine import Engine, RecordingReporter
from crmqa.plan.loader import load_plan
from crmqa.sandbox.testing import SandboxHandle, running_sandbox

PLAN = """\
id: load-e2e
name: Load end to end
system: {{name: sandbox}}
target: sandbox
targets:
  sandbox:
    profile: sandbox
    base_url: "{base_url}"
    timeout_s: 10
    destructive_ok: true
    load_ok: {load_ok}
    identities:
      default: {{default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD}}
      admin: {{default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD}}
      sales: {{default_username: sales, password_env: CRMQA_SANDBOX_PASSWORD}}
cases:
{cases}
"""


def plan_text(cases: str, base_url: str, *, load_ok: bool = True) -> str:
    """A plan against `base_url` holding `cases` (YAML, indented as a list of cases)."""
    return PLAN.format(base_url=base_url, load_ok=str(load_ok).lower(),
                       cases=textwrap.indent(textwrap.dedent(cases), "  "))


class LoadRun:
    """A case's result, the progress lines shown, and where its evidence is."""

    def __init__(self, result: CaseResult, progress: list[str], run_dir: Path) -> None:
        self.result = result
        self.progress = progress
        self.run_dir = run_dir

    @property
    def load_dir(self) -> Path:
        (folder,) = list((self.run_dir / "evidence").glob(f"{self.result.case_id}-*/load"))
        return folder

    def checks(self) -> dict[str, Any]:
        return {check.name: check for step in self.result.steps for check in step.checks}


RunLoad = Callable[..., LoadRun]


@pytest.fixture(scope="module")
def locked_sandbox() -> Iterator[SandboxHandle]:
    """A sandbox with the `concurrent_writes_fail` fault, shared by a module's tests."""
    with running_sandbox(faults=["concurrent_writes_fail"]) as handle:
        yield handle


@pytest.fixture
def run_load(tmp_path: Path, sandbox: SandboxHandle,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[RunLoad]:
    """`run_load(cases, case_id, base_url=...)`: write the plan, run one case, return it."""
    monkeypatch.setenv("CRMQA_SANDBOX_PASSWORD", sandbox.password)
    engines: list[Engine] = []

    def run(cases: str, case_id: str | None = None, *, base_url: str | None = None,
            load_ok: bool = True) -> LoadRun:
        plan = tmp_path / "plan.yaml"
        plan.write_text(plan_text(cases, base_url or sandbox.base_url, load_ok=load_ok))
        loaded = load_plan(plan)
        progress: list[str] = []
        reporter = RecordingReporter()
        reporter.progress = progress.append  # type: ignore[attr-defined]
        run_dir = tmp_path / "run"
        engine = Engine(loaded, None, run_dir, "gw0", reporter=reporter)
        engines.append(engine)
        case = loaded.case(case_id) if case_id else loaded.cases[0]
        return LoadRun(engine.run_case(case), progress, run_dir)

    yield run
    for engine in engines:
        engine.close()


def leads_named(base_url: str, password: str, word: str) -> int:
    """How many leads the sandbox holds whose names or company contain `word`."""
    with requests.Session() as http:
        token = http.post(f"{base_url}/api/auth/token",
                          json={"username": "admin", "password": password},
                          timeout=10).json()["access_token"]
        answer = http.get(f"{base_url}/api/leads", params={"q": word},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        return int(answer.json()["total"])
