"""Load through `crmqa run`: workers started as separate processes (Locust's own master and
worker mode, as on several machines, here on 127.0.0.1), and a run interrupted mid-load that
still removes everything the load created."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crmqa.sandbox.testing import free_port
from tests.interrupts import default_ctrl_c, signal_state

from .conftest import leads_named, plan_text

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _crmqa(*args: str) -> list[str]:
    return [sys.executable, "-m", "crmqa", *args]


def _env(sandbox) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**os.environ, "CRMQA_SANDBOX_PASSWORD": sandbox.password, "PYTHONUNBUFFERED": "1"}


def _keeping_case(word: str, duration_s: float, users: int) -> str:
    return f"""
        - id: KEEP
          title: Users save leads and keep them
          category: performance
          load:
            scenarios:
              - name: editors
                think_time: 0.1
                tasks:
                  - name: keep
                    steps:
                      - op: lead.create
                        with: {{data: {{first_name: K, last_name: {word},
                                       email: "{{{{ fake.unique_email() }}}}"}}}}
            shape: {{users: {users}, spawn_rate: {users}, duration_s: {duration_s}}}
            slo:
              - error_rate_pct: 1
                users_held: {users}
    """


def test_master_with_two_workers_started_elsewhere(sandbox, tmp_path: Path) -> None:
    word = "Ext" + uuid.uuid4().hex[:10]
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_text(_keeping_case(word, 3, 4), sandbox.base_url))
    port = free_port()
    env = _env(sandbox)
    run = subprocess.Popen(
        _crmqa("run", str(plan), "--reports", str(tmp_path / "reports"),
               "--load-external-workers", "2", "--load-bind", f"127.0.0.1:{port}"),
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Two workers, each its own process, as they would be on two other machines: they get
    # the locustfile from the master (`locust --worker -f -`).
    workers = [subprocess.Popen(_crmqa("load-worker", "--master", f"127.0.0.1:{port}"),
                                cwd=tmp_path / "..", env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        output, _ = run.communicate(timeout=300)
        for worker in workers:
            worker.wait(timeout=60)
    finally:
        for process in (run, *workers):
            if process.poll() is None:
                process.kill()
    assert run.returncode == 0, output[-3000:]
    assert "ACCEPTED" in output
    # live progress on the console while the load ran
    assert any("load KEEP:" in line and "users" in line and "req/s" in line
               and "p95" in line and "errors" in line for line in output.splitlines()), output
    (folder,) = list((tmp_path / "reports").glob("*/evidence/KEEP-*/load"))
    # the workers ran far away: they sent what they created to the master, which kept it
    journal = (folder / "journal-master.jsonl").read_text().splitlines()
    assert journal and all(json.loads(line)["do"] == "created" for line in journal)
    assert leads_named(sandbox.base_url, sandbox.password, word) == 0


def test_interrupted_load_still_removes_what_it_created(sandbox, tmp_path: Path) -> None:
    word = "Int" + uuid.uuid4().hex[:10]
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_text(_keeping_case(word, 60, 3), sandbox.base_url))
    run = subprocess.Popen(
        _crmqa("run", str(plan), "--reports", str(tmp_path / "reports")),
        cwd=tmp_path, env=_env(sandbox), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, preexec_fn=default_ctrl_c)
    state = ""
    try:
        deadline = time.monotonic() + 120
        while leads_named(sandbox.base_url, sandbox.password, word) < 5:
            assert run.poll() is None and time.monotonic() < deadline, "the load never began"
            time.sleep(0.5)
        state = f"{signal_state()}; {signal_state(run.pid)}"
        run.send_signal(signal.SIGINT)  # Ctrl-C, to crmqa only
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, output[-3000:] + "\n" + state
    assert leads_named(sandbox.base_url, sandbox.password, word) == 0, output[-3000:]
