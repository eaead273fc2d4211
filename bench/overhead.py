"""Benchmark: what crmqa costs over a plain pytest + requests file doing the same checks.

Both sides run in the same invocation against the same sandbox: N cases, each one GET of a
lead with three expectations (status / outcome, the email, the response time). Both run as
pytest subprocesses, so both pay pytest's start-up; each side runs `--repeat` times,
alternating, and the best time counts. Target: crmqa <= 1.2x the plain file.

Two baselines are printed: the bare plain file, and the same file writing the reports crmqa
writes anyway (Allure results and JUnit XML), so that the cost of crmqa's own machinery (plan,
engine, profile mapping, checks, gates) is told apart from the cost of the report writers.

Parallel runs: the same checks with `-n 1` and `-n 2` (target: -n 2 <= 0.6x of -n 1), the
plain file with `-n 1` and `-n 2` as the reference of what two shared cores allow, and,
against a sandbox answering in 50 ms (where the CRM's answer time dominates), `-n 1` against
`-n 8`. Every run's peak memory and CPU seconds (its whole process tree, xdist workers
included) and the machine's load average are printed too: on a shared machine, compare ratios
of one run; CPU seconds move less with the load than wall times do.

Compiled bytecode is kept as a user's machine keeps it (in a folder of the benchmark's own,
even when PYTHONDONTWRITEBYTECODE is set), and every side runs once before the timed rounds:
otherwise crmqa, installed from its sources, would be compiled anew in every process, while
the libraries the plain file uses were compiled when pip installed them (`--cold-bytecode`
measures that case: nothing is compiled ahead). `--also PATH` times
the crmqa of another checkout (say, a clone of main) in the same rounds, for a before/after.

    .venv/bin/python bench/overhead.py [--checks 1000] [--repeat 3] [--latency-ms 50]
                                       [--also PATH] [--cold-bytecode]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from crmqa.sandbox.testing import SandboxHandle, running_sandbox

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


@dataclass
class Side:
    """One way of running the checks, and what each of its runs cost."""

    command: list[str]
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # seconds, user + system, whole tree
    server_cpu: list[float] = field(default_factory=list)  # seconds the sandbox spent
    peaks: list[int] = field(default_factory=list)  # bytes, the whole process tree

    def run(self, cwd: Path, env: dict[str, str], server: psutil.Process | None = None) -> float:
        served = _cpu_of(server)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        elapsed, peak = _timed(self.command, cwd, env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        self.server_cpu.append(_cpu_of(server) - served)
        self.times.append(elapsed)
        self.peaks.append(peak)
        return elapsed

    @property
    def best_server_cpu(self) -> float:
        return min(self.server_cpu)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def peak_mb(self) -> float:
        return max(self.peaks) / 2**20


def _cpu_of(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall time of one run, and the peak memory of its process tree (xdist workers too)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    peak = 0
    watched = psutil.Process(process.pid)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(process.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(watched))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    reader.join()
    if process.returncode != 0:
        sys.stderr.write("".join(output)[-4000:])
        raise SystemExit(f"benchmark side failed ({process.returncode}): {' '.join(command)}")
    return elapsed, peak


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cores)"


def _write_sides(work: Path, sandbox: SandboxHandle, checks: int,
                 cold_bytecode: bool = False) -> dict[str, str]:
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
    parameters = "[" + ", ".join(f"{{n: {i}}}" for i in range(checks)) + "]"
    work.mkdir(parents=True, exist_ok=True)
    (work / "plan.yaml").write_text(PLAN.format(parameters=parameters, **values))
    (work / "test_plain.py").write_text(PLAIN.format(checks=checks, **values))
    (work / "reports").mkdir(exist_ok=True)
    env = {**os.environ, "CRMQA_SANDBOX_PASSWORD": sandbox.password}
    if cold_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(work.parent / "pycache")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _rounds(sides: dict[str, Side], work: Path, env: dict[str, str], repeat: int,
            label: str, sandbox: SandboxHandle) -> None:
    server = psutil.Process(sandbox.pid)
    for side in sides.values():  # compiles bytecode, warms the sandbox; not counted
        _timed(side.command, work, env)
    for round_number in range(1, repeat + 1):
        for side in sides.values():
            side.run(work, env, server)
        print(f"{label} round {round_number}: " + ", ".join(
            f"{name} {side.times[-1]:.2f} s" for name, side in sides.items()), flush=True)


def _floor(side: Side) -> float:
    """The shortest wall time two cores allow a run: its pytest and sandbox CPU over two."""
    return (side.best_cpu + side.best_server_cpu) / 2


def _two_core_limit(sides: dict[str, Side]) -> str:
    """What -n 2 can reach at best on this machine, told from the CPU the runs needed.

    The checks, the xdist processes and the sandbox share the same cores: `-n 2` cannot end
    before its two-core floor, so `floor(-n 2) / wall(-n 1)` is the best ratio this machine
    allows, whatever the harness. (`os.cpu_count()` cores; other work on them makes it worse.)
    """
    lines = [f"-n 2 on {os.cpu_count()} cores: the checks and the sandbox share them, so -n 2 "
             "cannot beat its two-core floor"]
    for label in ("plain", "crmqa"):
        one, two = sides[f"{label} -n 1"], sides[f"{label} -n 2"]
        lines.append(
            f"  {label:<6}: -n 2 needs {two.best_cpu:5.2f} CPU s + sandbox "
            f"{two.best_server_cpu:4.2f} s (-n 1: {one.best_cpu:5.2f} + {one.best_server_cpu:4.2f})"
            f"; best -n 2 / -n 1 two cores allow {_floor(two) / one.best:4.2f}x, "
            f"measured {two.best / one.best:4.2f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=50,
                        help="answer time of the sandbox for the -n 8 figures (default 50)")
    parser.add_argument("--latency-checks", type=int, default=200,
                        help="checks against the slow sandbox (default 200)")
    parser.add_argument("--latency-repeat", type=int, default=1)
    parser.add_argument("--also", type=Path, default=None, metavar="PATH",
                        help="also time the crmqa of this checkout in the same rounds")
    parser.add_argument("--cold-bytecode", action="store_true",
                        help="compile every module anew in every process (no bytecode kept)")
    args = parser.parse_args()
    print(f"start: {_load()}", flush=True)

    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        common = ["-q", "-p", "no:cacheprovider", "-p", "no:locust", "-c", os.devnull,
                  "--rootdir", str(work)]
        crmqa_cmd = [python, "-m", "pytest", "plan.yaml", "--crmqa-reports", "reports",
                     *common]
        plain_cmd = [python, "-m", "pytest", "test_plain.py", *common]
        sides = {
            "plain": Side(plain_cmd),
            "reported": Side([*plain_cmd, "--alluredir", "plain-allure",
                              "--junitxml", "plain.xml"]),
            "crmqa": Side(crmqa_cmd),
            "plain -n 1": Side([*plain_cmd, "-n", "1"]),
            "plain -n 2": Side([*plain_cmd, "-n", "2"]),
            "crmqa -n 1": Side([*crmqa_cmd, "-n", "1"]),
            "crmqa -n 2": Side([*crmqa_cmd, "-n", "2"]),
        }
        if args.also is not None:
            other = ["env", f"PYTHONPATH={args.also.resolve()}"]
            sides["also"] = Side([*other, *crmqa_cmd])
            sides["also -n 1"] = Side([*other, *crmqa_cmd, "-n", "1"])
            sides["also -n 2"] = Side([*other, *crmqa_cmd, "-n", "2"])
        with running_sandbox() as sandbox:
            env = _write_sides(work / "fast", sandbox, args.checks, args.cold_bytecode)
            _rounds(sides, work / "fast", env, args.repeat, "sandbox", sandbox)
        slow = {"crmqa -n 1": Side([*crmqa_cmd, "-n", "1"]),
                "crmqa -n 8": Side([*crmqa_cmd, "-n", "8"])}
        with running_sandbox(latency_ms=args.latency_ms) as sandbox:
            env = _write_sides(work / "slow", sandbox, args.latency_checks, args.cold_bytecode)
            _rounds(slow, work / "slow", env, args.latency_repeat,
                    f"sandbox answering in {args.latency_ms} ms", sandbox)

    plain, reported, crmqa = (sides[name].best for name in ("plain", "reported", "crmqa"))
    one, two = sides["crmqa -n 1"].best, sides["crmqa -n 2"].best
    plain_one, plain_two = sides["plain -n 1"].best, sides["plain -n 2"].best
    slow_one, slow_eight = slow["crmqa -n 1"].best, slow["crmqa -n 8"].best
    n = args.checks
    print(textwrap.dedent(f"""
        {n} API checks (GET + 3 expectations) against the sandbox, best of {args.repeat}
          plain pytest + requests              : {plain:7.2f} s  ({n / plain:5.0f} checks/s)
          plain, writing Allure + JUnit        : {reported:7.2f} s  ({n / reported:5.0f} checks/s)
          crmqa (Allure, JUnit, gates, reports): {crmqa:7.2f} s  ({n / crmqa:5.0f} checks/s)
          ratio crmqa / plain                  : {crmqa / plain:7.2f}x   (target <= 1.20x)
          ratio crmqa / plain, same reports    : {crmqa / reported:7.2f}x
          CPU seconds (process tree, best)     : plain {sides["plain"].best_cpu:.2f}, \
reported {sides["reported"].best_cpu:.2f}, crmqa {sides["crmqa"].best_cpu:.2f} \
({sides["crmqa"].best_cpu / sides["plain"].best_cpu:.2f}x plain)
          crmqa -n 1                           : {one:7.2f} s
          crmqa -n 2                           : {two:7.2f} s
          ratio -n 2 / -n 1                    : {two / one:7.2f}x   (target <= 0.60x)
          plain -n 1, -n 2 (the reference)     : {plain_one:7.2f} s, {plain_two:.2f} s \
({plain_two / plain_one:.2f}x)
        {args.latency_checks} checks against a sandbox answering in {args.latency_ms} ms, \
best of {args.latency_repeat}
          crmqa -n 1                           : {slow_one:7.2f} s
          crmqa -n 8                           : {slow_eight:7.2f} s
          ratio -n 8 / -n 1                    : {slow_eight / slow_one:7.2f}x
        per side: peak memory (whole process tree, largest of the runs), CPU seconds of the
        pytest process tree and of the sandbox (best of the runs), and the floor two cores put
        under the wall time when both are busy: (pytest + sandbox CPU) / 2
    """).rstrip())
    for name, side in [*sides.items(), *((f"{k} (slow sandbox)", v) for k, v in slow.items())]:
        print(f"  {name:<37}: {side.peak_mb:5.0f} MB, CPU {side.best_cpu:5.2f} s + sandbox "
              f"{side.best_server_cpu:5.2f} s, two-core floor {_floor(side):5.2f} s")
    print(_two_core_limit(sides))
    if args.also is not None:
        also, also_one, also_two = (sides[name].best for name in ("also", "also -n 1",
                                                                   "also -n 2"))
        print(textwrap.dedent(f"""\
            crmqa of {args.also}, same rounds
              crmqa                                : {also:7.2f} s  ({also / plain:.2f}x plain)
              crmqa -n 1, -n 2                     : {also_one:7.2f} s, {also_two:.2f} s \
({also_two / also_one:.2f}x)""").rstrip())
    print(f"end: {_load()}")


if __name__ == "__main__":
    main()
