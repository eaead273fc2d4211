"""Benchmark: what crmqa costs over a plain pytest + requests file doing the same checks.

Both sides run in the same invocation against the same sandbox: N cases, each one GET of a
lead with three expectations (status / outcome, the email, the response time). Both run as
pytest subprocesses, so both pay pytest's start-up; each side runs `--repeat` times,
alternating, and the best time counts. Target: crmqa <= 1.2x the plain file.

Two baselines are printed: the bare plain file, and the same file writing the reports crmqa
writes anyway (Allure results and JUnit XML), so that the cost of crmqa's own machinery (plan,
engine, profile mapping, checks, gates) is told apart from the cost of the report writers.

    .venv/bin/python bench/overhead.py [--checks 1000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

from crmqa.sandbox.testing import running_sandbox

ROOT = Path(__file__).resolve().parents[1]

PLAN = """\
id: overhead-bench
name: Overhead benchmark
system: {{ name: sandbox }}
target: sandbox
targets:
  sandbox:
    profile: sandbox
    base_url: "{base_url}"
    identities:
      default: {{ default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD }}
gates:
  max_open_severity: null
cases:
  - id: GET-LEAD
    title: Read one lead
    parameters: {parameters}
    steps:
      - op: lead.get
        with: {{ id: {lead_id} }}
        expect:
          outcome: ok
          record: {{ email: "{email}" }}
          max_ms: 2000
"""

PLAIN = """\
import os

import pytest
import requests

BASE = "{base_url}"
_session = requests.Session()


@pytest.fixture(scope="module")
def token():
    answer = _session.post(BASE + "/api/auth/token", json={{
        "username": "admin", "password": os.environ["CRMQA_SANDBOX_PASSWORD"]}}, timeout=10)
    return answer.json()["access_token"]


@pytest.mark.parametrize("i", range({checks}))
def test_get_lead(token, i):
    answer = _session.get(BASE + "/api/leads/{lead_id}",
                          headers={{"Authorization": "Bearer " + token}}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["email"] == "{email}"
    assert answer.elapsed.total_seconds() * 1000 < 2000
"""


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"benchmark side failed ({done.returncode}): {' '.join(command)}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    with running_sandbox() as sandbox, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = {**os.environ, "CRMQA_SANDBOX_PASSWORD": sandbox.password}
        token = requests.post(
            sandbox.base_url + "/api/auth/token",
            json={"username": "admin", "password": sandbox.password},
            timeout=10,
        ).json()["access_token"]
        lead = requests.post(
            sandbox.base_url + "/api/leads",
            json={"first_name": "Bench", "last_name": "Mark", "email": "bench@example.com"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        values = {"base_url": sandbox.base_url, "lead_id": lead["id"], "email": lead["email"]}
        parameters = "[" + ", ".join(f"{{n: {i}}}" for i in range(args.checks)) + "]"
        (work / "plan.yaml").write_text(PLAN.format(parameters=parameters, **values))
        (work / "test_plain.py").write_text(PLAIN.format(checks=args.checks, **values))
        (work / "reports").mkdir()

        python = sys.executable
        common = ["-q", "-p", "no:cacheprovider", "-p", "no:locust", "-c", os.devnull,
                  "--rootdir", str(work)]
        crmqa_cmd = [python, "-m", "pytest", "plan.yaml", "--crmqa-reports", "reports", *common]
        plain_cmd = [python, "-m", "pytest", "test_plain.py", *common]
        reported_cmd = [*plain_cmd, "--alluredir", "plain-allure", "--junitxml", "plain.xml"]

        times: dict[str, list[float]] = {"plain": [], "reported": [], "crmqa": []}
        commands = {"plain": plain_cmd, "reported": reported_cmd, "crmqa": crmqa_cmd}
        for round_number in range(1, args.repeat + 1):
            for side, command in commands.items():
                times[side].append(_timed(command, work, env))
            print(f"round {round_number}: " + ", ".join(
                f"{side} {values[-1]:.2f} s" for side, values in times.items()), flush=True)

    plain, reported, crmqa = (min(times[side]) for side in ("plain", "reported", "crmqa"))
    n = args.checks
    print(textwrap.dedent(f"""
        {n} API checks (GET + 3 expectations) against the sandbox, best of {args.repeat}
          plain pytest + requests              : {plain:7.2f} s  ({n / plain:5.0f} checks/s)
          plain, writing Allure + JUnit        : {reported:7.2f} s  ({n / reported:5.0f} checks/s)
          crmqa (Allure, JUnit, gates, reports): {crmqa:7.2f} s  ({n / crmqa:5.0f} checks/s)
          ratio crmqa / plain                  : {crmqa / plain:7.2f}x   (target <= 1.20x)
          ratio crmqa / plain, same reports    : {crmqa / reported:6.2f}x
    """).rstrip())


if __name__ == "__main__":
    main()
