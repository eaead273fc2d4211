"""Benchmark: validating a plan the way `crmqa validate` does, against a bare YAML load.

Generates realistic plans in a temporary folder (a plan file plus included suite files of at
most 5,000 cases each; cases with several steps, templates, body checks, parameters, tags and
dependencies), then measures, each in a fresh child process so that memory is per measurement:

- bare: `yaml.load(text, Loader=yaml.CSafeLoader)` of the same files (the floor);
- validate: `validate_paths([plan])` in process, as `crmqa validate` runs it;
- cli: `python -m crmqa validate PLAN` end to end (interpreter start and imports included).

Prints wall time (best of `--repeat`), CPU time, the ratio validate / bare, and peak memory
(ru_maxrss of the child). On a shared machine wall time varies with the neighbours' load; the
CPU-time ratio ("cpu x") is the steadier figure. Target: validate <= 2x bare, and 200,000
cases far below 60 s.

    .venv/bin/python bench/validate.py [--sizes 2000 20000 200000] [--repeat 3] [--no-cli]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES_PER_SUITE = 5_000

PLAN_HEAD = """\
id: bench-plan
name: Benchmark acceptance plan
system: {name: Bench CRM, version: "1.0"}
target: staging
targets:
  staging:
    profile: sandbox
    base_url: "{{ env.CRM_URL | default('http://127.0.0.1:8000') }}"
    identities:
      default: {username_env: CRM_USER, password_env: CRM_PASSWORD}
      sales: {username_env: CRM_SALES_USER, password_env: CRM_SALES_PASSWORD}
data:
  vars: {company: Acme Ltd, region: emea, page_size: 20}
  seed: 7
requirements:
  lead:
    email: {required: true, format: email, max_length: 254}
    company: {max_length: 100}
gates:
  must_pass: [LEAD-000000-0]
  max_open_severity: critical
waivers:
  - {case: LEAD-000001-0, owner: QA lead, reason: vendor fix due, expires: 2030-12-31}
include:
"""

OWN_CASES = """\
cases:
  - id: OWN-HEALTH
    title: The CRM answers its health check
    module: platform
    steps:
      - request: {path: /api/health}
        expect: {status: 200, body: [{path: status, equals: ok}], max_ms: 1000}
  - id: OWN-MANUAL
    title: A person prints a lead
    category: manual
    instructions: Open a lead and print it.
"""

# One case in four of each shape; {n} is the case number, {s} the suite number.
CASE_SHAPES = (
    """\
  - id: LEAD-{n:06d}-{s}
    title: Create a lead and read it back ({n})
    severity: critical
    priority: high
    tags: [smoke, leads]
    requirements: [REQ-{r}]
    parameters:
      - {{status: new, source: web}}
      - {{status: qualified, source: event}}
    steps:
      - name: create the lead
        op: lead.create
        with:
          data:
            first_name: "{{{{ fake.first_name() }}}}"
            last_name: "{{{{ fake.last_name() }}}}"
            email: "{{{{ fake.unique_email() }}}}"
            company: "{{{{ vars.company }}}} {n}"
            status: "{{{{ params.status }}}}"
            source: "{{{{ params.source }}}}"
        expect:
          outcome: ok
          record: {{status: "{{{{ params.status }}}}"}}
        save: {{lead_id: record.id}}
      - op: lead.get
        with: {{id: "{{{{ saved.lead_id }}}}"}}
        expect:
          outcome: ok
          body:
            - {{path: record.email, exists: true}}
            - {{path: record.status, equals: "{{{{ params.status }}}}"}}
            - {{path: record.company, matches: "^Acme"}}
      - request: {{method: GET, path: "/api/leads/{{{{ saved.lead_id }}}}"}}
        expect: {{status: 200, max_ms: 2000}}
    teardown:
      - op: lead.delete
        with: {{id: "{{{{ saved.lead_id }}}}"}}
""",
    """\
  - id: LEAD-{n:06d}-{s}
    title: Search finds a new lead ({n})
    module: search
    depends_on: [LEAD-{p:06d}-{s}]
    steps:
      - op: lead.create
        with:
          data: {{first_name: Ann, last_name: "Lee {n}", email: "{{{{ fake.unique_email() }}}}"}}
        save: {{lead_id: record.id, email: record.email}}
      - op: lead.search
        with: {{query: "{{{{ saved.email }}}}", page_size: 10}}
        expect:
          outcome: ok
          count: 1
          body:
            - {{path: "items[0].id", equals: "{{{{ saved.lead_id }}}}"}}
            - {{path: total, gte: 1}}
""",
    """\
  - id: LEAD-{n:06d}-{s}
    title: Import is processed ({n})
    module: import
    severity: normal
    tags: [import]
    steps:
      - op: lead.import
        with: {{rows: [{{first_name: A, last_name: B, email: "{{{{ fake.unique_email() }}}}"}}]}}
        expect: {{outcome: ok}}
        save: {{job: imported}}
      - wait_until:
          step: {{op: lead.list, with: {{page_size: "{{{{ vars.page_size }}}}"}}}}
          success: {{outcome: ok, body: [{{path: total, gte: 1}}]}}
          timeout_s: 30
          interval_s: 1
""",
    """\
  - id: LEAD-{n:06d}-{s}
    title: A sales user sees the form ({n})
    module: ui
    category: ux
    priority: low
    steps:
      - ui: open
        target: lead_form
        as: sales
      - ui: fill
        target: lead_form
        values:
          first_name: "{{{{ fake.first_name() }}}}"
          email: "{{{{ fake.unique_email() }}}}"
      - ui: click
        target: lead_form.save
      - ui: expect_text
        target: lead_detail.message
        value: Lead created
""",
)


def generate(folder: Path, cases: int) -> Path:
    """Write a plan with `cases` cases spread over suite files under `folder`; return the plan."""
    suites = (folder / "suites").resolve()
    suites.mkdir(parents=True, exist_ok=True)
    includes: list[str] = []
    remaining, number = cases, 0
    while remaining > 0:
        count = min(CASES_PER_SUITE, remaining)
        name = f"suite-{number:03d}.yaml"
        parts = [f"suite: {{id: suite-{number}, name: Suite {number}, module: leads}}\ncases:\n"]
        for n in range(count):
            shape = CASE_SHAPES[n % len(CASE_SHAPES)]
            parts.append(shape.format(n=n, s=number, r=n % 97, p=max(n - 1, 0)))
        (suites / name).write_text("".join(parts), encoding="utf-8")
        includes.append(f"  - suites/{name}\n")
        remaining -= count
        number += 1
    plan = folder / "plan.yaml"
    plan.write_text(PLAN_HEAD + "".join(includes) + OWN_CASES, encoding="utf-8")
    return plan


# --------------------------------------------------------------------------- child side


def _child(mode: str, plan: Path) -> None:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    problems = 0
    if mode == "bare":
        import yaml

        for path in [plan, *sorted((plan.parent / "suites").glob("*.yaml"))]:
            yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        usage = resource.getrusage(resource.RUSAGE_SELF)
    elif mode == "validate":
        from crmqa.plan.loader import validate_paths

        issues = validate_paths([plan])
        problems = len(issues)
        for issue in issues[:5]:
            print(issue.format(), file=sys.stderr)
        usage = resource.getrusage(resource.RUSAGE_SELF)
    else:  # the CLI end to end, in its own process: this one only watches it
        done = subprocess.run(
            [sys.executable, "-m", "crmqa", "validate", str(plan)],
            capture_output=True, text=True, check=False,
        )
        problems = int(done.returncode != 0)
        if problems:
            print(done.stdout + done.stderr, file=sys.stderr)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        start_cpu = 0.0
    cpu = usage.ru_utime + usage.ru_stime if mode == "cli" else time.process_time() - start_cpu
    result = {
        "wall": time.perf_counter() - start_wall,
        "cpu": cpu,
        "maxrss_mb": usage.ru_maxrss / 1024,
        "problems": problems,
    }
    print(json.dumps(result))


def _measure(mode: str, plan: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(plan)],
        env=env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stdout}{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("problems"):
        raise SystemExit(f"{mode}: the generated plan is not valid:\n{done.stderr}")
    return result


def _best(mode: str, plan: Path, repeat: int) -> dict[str, float]:
    runs = [_measure(mode, plan) for _ in range(repeat)]
    best = min(runs, key=lambda run: run["wall"])
    best["cpu"] = min(run["cpu"] for run in runs)
    best["maxrss_mb"] = max(run["maxrss_mb"] for run in runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000, 200_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI subprocess")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PLAN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return
    print(f"{'cases':>8} {'MB':>6}  {'what':<9} {'wall s':>8} {'cpu s':>8} {'x bare':>7} "
          f"{'cpu x':>7} {'peak MB':>8}")
    with tempfile.TemporaryDirectory(prefix="crmqa-bench-") as tmp:
        for size in args.sizes:
            folder = Path(tmp) / str(size)
            plan = generate(folder, size)
            megabytes = sum(p.stat().st_size for p in folder.rglob("*.yaml")) / 1e6
            repeat = args.repeat if size <= 20_000 else 1
            modes = ["bare", "validate"] + ([] if args.no_cli else ["cli"])
            results = {mode: _best(mode, plan, repeat) for mode in modes}
            bare = results["bare"]
            for mode, result in results.items():
                ratio = result["wall"] / bare["wall"]
                cpu_ratio = result["cpu"] / bare["cpu"]
                print(f"{size:>8} {megabytes:>6.1f}  {mode:<9} {result['wall']:>8.2f} "
                      f"{result['cpu']:>8.2f} {ratio:>7.2f} {cpu_ratio:>7.2f} "
                      f"{result['maxrss_mb']:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
