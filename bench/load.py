"""Benchmark: crmqa's generated load vs a hand-written Locust FastHttpUser, same task.

Both read one lead (`GET /api/leads/1` with a bearer token; crmqa: `op: lead.get` through
the sandbox profile) with no think time, against the same sandbox, in one invocation: first
each variant in one Locust process, then each with a master and two workers. The two
variants of a pair run at the same time, so that they share the machine's conditions (it is
shared with other work), and the best of `--repeat` rounds counts.

Two figures per variant:
- observed throughput (req/s): on one machine the Python sandbox is usually the limit
  before the load generator is, so this says little about the generator itself;
- generator CPU per request, and the req/s one generator process could sustain at that cost
  (1 / CPU seconds per request): the generator's own efficiency.

Goals (issue 11): crmqa >= 90 % of raw per generator process; two workers >= 1.8x one.
The load average is printed with the figures.

A third figure attributes crmqa's share: the CPU its own flow code (rendering, the profile's
operation, mapping the answer to canonical fields, the sample) takes per step with the HTTP
answer canned in the same process, so no network and no Locust: the part crmqa can change.

    .venv/bin/python bench/load.py [--users 10] [--seconds 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from crmqa.load.locustfile import LoadSetting, load_spec, render_locustfile
from crmqa.load.model import LoadSpec
from crmqa.plan.models import Target
from crmqa.profiles.loader import resolve_profile
from crmqa.profiles.target import resolve_target
from crmqa.sandbox.testing import free_port, running_sandbox

ROOT = Path(__file__).resolve().parents[1]

RAW = '''\
"""The hand-written locustfile: what a Locust user would write for the same task."""
import os

from locust import FastHttpUser, constant, task


class ReadLead(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        answer = self.client.post("/api/auth/token", json={
            "username": "admin", "password": os.environ["CRMQA_SANDBOX_PASSWORD"]})
        self.headers = {"Authorization": "Bearer " + answer.json()["access_token"]}

    @task
    def read_lead(self):
        with self.client.get("/api/leads/1", headers=self.headers, name="lead.get",
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
'''


@dataclass
class Result:
    requests: int
    seconds: float
    cpu_s: float  # user + system time of the generator processes (workers; master apart)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests if self.requests else 0.0

    @property
    def capacity_rps(self) -> float:
        """Requests per second one generator process could make at this CPU cost."""
        return 1000 / self.cpu_ms_per_request if self.requests else 0.0


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class Planned:
    """One variant ready to start: its lead command, its workers, where its stats go."""

    name: str
    lead: list[str]
    workers: int
    worker: list[str]
    folder: Path
    stats: Path


def run_together(planned: list[Planned], env: dict[str, str], timeout: float) -> list[Result]:
    """Start the variants at once (so that they share the machine's conditions), sample each
    one's generator CPU while it runs, and measure them over their steady seconds.

    Python's and Locust's start-up is left out: only samples taken while requests flowed
    count.
    """
    running = []
    for item in planned:
        log = (item.folder / "lead.log").open("wb")
        lead = subprocess.Popen(item.lead, cwd=item.folder, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        helpers = [subprocess.Popen(item.worker, cwd=item.folder, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(item.workers)]
        running.append((lead, helpers, []))
    deadline = time.monotonic() + timeout
    samples: list[list[tuple[float, float]]] = [[] for _ in planned]
    while any(lead.poll() is None for lead, _, _ in running) and time.monotonic() < deadline:
        for index, (lead, helpers, _) in enumerate(running):
            generators = helpers or [lead]
            used = [_cpu_seconds(process.pid) for process in generators]
            if lead.poll() is None and all(value is not None for value in used):
                samples[index].append((time.time(), sum(v for v in used if v is not None)))
        time.sleep(0.2)
    for lead, helpers, _ in running:
        for process in (lead, *helpers):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return [_steady(found, *_requests(item.stats)) for item, found in zip(planned, samples,
                                                                          strict=True)]


def _steady(samples: list[tuple[float, float]], count: int, start: float,
            end: float) -> Result:
    """Requests, seconds and generator CPU over the steady part of the run."""
    begin, finish = start + 1.5, end - 0.5
    inside = [(t, cpu) for t, cpu in samples if begin <= t <= finish]
    if len(inside) < 2 or end <= start:
        return Result(count, end - start, samples[-1][1] if samples else 0.0)
    (t0, c0), (t1, c1) = inside[0], inside[-1]
    share = (t1 - t0) / (end - start)  # requests flowed evenly: no think time, users all up
    return Result(round(count * share), t1 - t0, c1 - c0)


def _requests(stats_file: Path) -> tuple[int, float, float]:
    """Requests of the measured task, and when the first and the last were made (epoch)."""
    rows = json.loads(stats_file.read_text())
    measured = [row for row in rows if row["name"] == "lead.get"]
    count = sum(row["num_requests"] for row in measured)
    if not count:  # its users never got past logging in (a slow login on a busy machine)
        return 0, 0.0, 0.0
    start = min(row["start_time"] for row in measured)
    end = max(row["last_request_timestamp"] for row in measured)
    return count, start, end


def plan_raw(base_url: str, users: int, seconds: int, workers: int,
             folder: Path) -> Planned:
    locustfile = folder / "raw_locustfile.py"
    locustfile.write_text(RAW)
    base = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
            "--host", base_url, "--loglevel", "ERROR"]
    lead = [*base, "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--only-summary",
            "--json-file", str(folder / "raw"), "--exit-code-on-error", "0"]
    worker: list[str] = []
    if workers:
        port = free_port()
        lead += ["--master", "--expect-workers", str(workers), "--master-bind-host",
                 "127.0.0.1", "--master-bind-port", str(port)]
        worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    return Planned("raw", lead, workers, worker, folder, folder / "raw.json")


def plan_crmqa(base_url: str, users: int, seconds: int, workers: int, folder: Path,
               env: dict[str, str]) -> Planned:
    """crmqa's generated locustfile, run with the command crmqa itself uses."""
    from crmqa.load.process import locust_command

    load = LoadSpec.model_validate({
        "scenarios": [{"name": "readers", "think_time": 0, "tasks": [
            {"name": "read a lead", "steps": [{"op": "lead.get", "with": {"id": 1}}]}]}],
        "shape": {"users": users, "spawn_rate": users, "duration_s": seconds},
        "limits": {"max_users": users, "max_rps": 1_000_000}})
    target = resolve_target("sandbox", Target.model_validate({
        "profile": "sandbox", "base_url": base_url,
        "identities": {"default": {"default_username": "admin",
                                   "password_env": "CRMQA_SANDBOX_PASSWORD"}}}),
        ROOT, env=env, profile=resolve_profile("sandbox", ROOT))
    setting = LoadSetting(workers=workers, bind_port=free_port())
    spec = load_spec(load, case_id="BENCH", target=target, base_dir=ROOT,
                     templates={"vars": {}, "params": {}, "rules": {}}, locale="en_US",
                     out_dir=folder, setting=setting, run_token="bench")
    locustfile = folder / "locustfile.py"
    locustfile.write_text(render_locustfile(spec))
    lead = locust_command(locustfile, folder, "master" if workers else "single", setting)
    worker = locust_command(locustfile, folder, "worker", setting)
    return Planned("crmqa", lead, workers, worker, folder, folder / "locust.json")


def flow_cpu_us() -> float:
    """crmqa's own CPU per load step, measured by bench/load_flow.py in a process of its own
    (Locust must be imported, and gevent patch, before anything else loads requests)."""
    answer = subprocess.run([sys.executable, str(Path(__file__).with_name("load_flow.py"))],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    return float(answer.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    options = parser.parse_args()
    with running_sandbox() as sandbox, tempfile.TemporaryDirectory() as scratch:
        scratch = os.environ.get("BENCH_KEEP", scratch)
        env = {**os.environ, "CRMQA_SANDBOX_PASSWORD": sandbox.password}
        best: dict[tuple[str, int], Result] = {}
        loads: list[float] = []
        for round_ in range(options.repeat):
            for workers in (0, 2):
                pair = []
                for name in ("raw", "crmqa"):
                    folder = Path(scratch) / f"{name}-{workers}-{round_}"
                    folder.mkdir()
                    pair.append(plan_raw(sandbox.base_url, options.users, options.seconds,
                                         workers, folder) if name == "raw" else
                                plan_crmqa(sandbox.base_url, options.users, options.seconds,
                                           workers, folder, env))
                results = run_together(pair, env, options.seconds + 120)
                loads.append(os.getloadavg()[0])
                for item, result in zip(pair, results, strict=True):
                    if result.requests < 100 or result.cpu_s <= 0:
                        print(f"  {item.name:5} round {round_ + 1}: too few requests to "
                              f"measure ({result.requests}); see {item.folder}/lead.log")
                        continue
                    key = (item.name, workers)
                    if key not in best or result.capacity_rps > best[key].capacity_rps:
                        best[key] = result
                    print(f"  {item.name:5} "
                          f"{'1 process' if not workers else 'master + 2 workers':18}"
                          f" {result.requests:7,d} req in {result.seconds:5.1f} s = "
                          f"{result.rps:7.1f} req/s; generator CPU "
                          f"{result.cpu_ms_per_request:6.3f} ms/req", flush=True)
    print()
    print(textwrap.dedent(f"""\
        load average during the runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores
        (best of {options.repeat}; {options.users} users, {options.seconds} s, no think time,
        GET one lead; the sandbox runs on the same machine)
    """))
    header = (f"{'variant':<28}{'req/s seen':>12}{'CPU ms/req':>12}"
              f"{'req/s per generator':>22}")
    print(header)
    for (name, workers), result in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        label = f"{name}, {'1 process' if not workers else 'master + 2 workers'}"
        per = result.capacity_rps
        print(f"{label:<28}{result.rps:>12.1f}{result.cpu_ms_per_request:>12.3f}{per:>22.0f}")
    missing = [f"{name}, {workers} workers" for name in ("raw", "crmqa") for workers in (0, 2)
               if (name, workers) not in best]
    if missing:
        sys.exit(f"no measurement for {', '.join(missing)}: run longer (--seconds)")
    raw1, crmqa1 = best[("raw", 0)], best[("crmqa", 0)]
    crmqa2 = best[("crmqa", 2)]
    own_us = flow_cpu_us()
    print(f"crmqa's own flow code per step (answer canned, no network): {own_us:.1f} us CPU ="
          f" {own_us / (10 * raw1.cpu_ms_per_request):.1f} % of raw Locust's CPU per request")
    print()
    print(f"crmqa vs raw, per generator process: {crmqa1.capacity_rps / raw1.capacity_rps:.0%}"
          f" (goal >= 90%); throughput seen: {crmqa1.rps / raw1.rps:.0%}")
    print(f"crmqa, two workers vs one process:  capacity "
          f"{2 * crmqa2.capacity_rps / crmqa1.capacity_rps:.2f}x (goal >= 1.8x); throughput "
          f"seen {crmqa2.rps / crmqa1.rps:.2f}x")


if __name__ == "__main__":
    main()
