"""Benchmark: 50 UI cases through crmqa against a hand-written Playwright script doing the same.

    .venv/bin/python bench/ui.py [--cases 50] [--rounds 2]

Both sides drive the same sandbox with the same Chromium, the same launch flags, one login
per worker reused through a stored session, and a fresh browser context per case. Each case
searches the lead list, opens the first lead, checks its page and its edit form. crmqa runs
the cases from a YAML plan through the engine (rendering, screen maps, checks, evidence
bookkeeping, trace recording for retain-on-failure); the script calls Playwright directly.
The sides alternate (A B B A ...) so that a busy machine slows both alike. Prints both wall
times and the ratio; the target is crmqa <= 1.3x the script.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from crmqa.drivers.ui.options import CHROMIUM_ARGS, UiOptions  # noqa: E402
from crmqa.sandbox.testing import SandboxHandle, running_sandbox  # noqa: E402

SEARCH_TERMS = ("a", "e", "o", "an", "er", "in", "ar", "on", "el", "ri")

CASE_TEMPLATE = """
  - id: BENCH-UI-{n:03d}
    title: Search, open the first lead, check its page and edit form ({term})
    tags: [bench]
    steps:
      - {{ ui: open, target: lead_list }}
      - {{ ui: fill, target: lead_list.search, value: "{term}" }}
      - {{ ui: click, target: lead_list.search_button }}
      - {{ ui: expect_visible, target: "lead_list.rows >> nth=0" }}
      - {{ ui: click, target: "lead_list.links >> nth=0" }}
      - {{ ui: expect_url, target: lead_detail }}
      - {{ ui: expect_visible, target: lead_detail.email }}
      - {{ ui: click, target: lead_detail.edit }}
      - {{ ui: expect_value, target: lead_form.email, value: "/@/" }}
"""

PLAN_HEAD = """
id: bench-ui
name: UI benchmark
system: { name: crmqa sandbox CRM }
target: sandbox
targets:
  sandbox:
    profile: sandbox
    base_url: "{{ env.CRMQA_SANDBOX_URL }}"
    identities:
      default: { default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD }
cases:
"""


def write_plan(folder: Path, cases: int) -> Path:
    """A plan of `cases` UI cases, cycling through the search terms."""
    body = "".join(
        CASE_TEMPLATE.format(n=n, term=SEARCH_TERMS[n % len(SEARCH_TERMS)]) for n in range(cases)
    )
    path = folder / "bench_ui.yaml"
    path.write_text(PLAN_HEAD + body, encoding="utf-8")
    return path


def run_crmqa(plan_path: Path, run_dir: Path) -> float:
    """Seconds to run every case of the plan through crmqa's engine (browser start included)."""
    from crmqa.engine.engine import Engine
    from crmqa.plan.loader import load_plan

    started = time.perf_counter()
    plan = load_plan(plan_path)
    engine = Engine(plan, None, run_dir, "bench")
    try:
        for loaded in plan.cases:
            result = engine.run_case(loaded)
            if result.outcome.value != "passed":
                raise SystemExit(f"crmqa case {loaded.case.id} {result.outcome.value}: "
                                 f"{result.message}")
    finally:
        engine.close()
    return time.perf_counter() - started


def run_script(sandbox: SandboxHandle, cases: int) -> float:
    """Seconds for the hand-written Playwright script doing the same (browser start included)."""
    options = UiOptions.from_env()
    started = time.perf_counter()
    timeout = options.timeout_s * 1000
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=options.chromium_path, headless=True, args=list(CHROMIUM_ARGS)
        )
        viewport = {"width": options.viewport[0], "height": options.viewport[1]}
        login = browser.new_context(viewport=viewport)
        page = login.new_page()
        page.goto(f"{sandbox.base_url}/login")
        page.get_by_label("Username", exact=True).fill("admin")
        page.get_by_label("Password", exact=True).fill(sandbox.password)
        page.get_by_role("button", name="Log in", exact=True).click()
        page.wait_for_url(lambda url: not url.split("?")[0].endswith("/login"))
        state = login.storage_state()
        login.close()
        for n in range(cases):
            context = browser.new_context(viewport=viewport, storage_state=state)
            page = context.new_page()
            page.goto(f"{sandbox.base_url}/leads", timeout=timeout)
            page.get_by_label("Search", exact=True).fill(SEARCH_TERMS[n % len(SEARCH_TERMS)])
            page.get_by_role("button", name="Search", exact=True).click()
            expect(page.get_by_test_id("lead-row").nth(0)).to_be_visible(timeout=timeout)
            page.get_by_test_id("lead-link").nth(0).click()
            page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1].isdigit())
            expect(page.get_by_test_id("field-email")).to_be_visible(timeout=timeout)
            page.get_by_role("link", name="Edit", exact=True).click()
            expect(page.get_by_label("Email")).to_have_value(re.compile("@"), timeout=timeout)
            context.close()
        browser.close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="A B B A rounds per side")
    args = parser.parse_args()
    with running_sandbox() as sandbox, tempfile.TemporaryDirectory() as tmp:
        os.environ["CRMQA_SANDBOX_URL"] = sandbox.base_url
        os.environ["CRMQA_SANDBOX_PASSWORD"] = sandbox.password
        plan_path = write_plan(Path(tmp), args.cases)
        crmqa_times: list[float] = []
        script_times: list[float] = []
        for round_number in range(args.rounds):
            order = ("script", "crmqa") if round_number % 2 == 0 else ("crmqa", "script")
            for side in order:
                if side == "crmqa":
                    run_dir = Path(tmp) / f"run-{round_number}"
                    crmqa_times.append(run_crmqa(plan_path, run_dir))
                else:
                    script_times.append(run_script(sandbox, args.cases))
        crmqa_total, script_total = sum(crmqa_times), sum(script_times)
        print(f"{args.cases} UI cases x {args.rounds} rounds")
        print(f"  hand-written Playwright: {script_total / args.rounds:6.2f} s per round "
              f"({', '.join(f'{t:.2f}' for t in script_times)})")
        print(f"  crmqa:                   {crmqa_total / args.rounds:6.2f} s per round "
              f"({', '.join(f'{t:.2f}' for t in crmqa_times)})")
        print(f"  ratio crmqa / script:    {crmqa_total / script_total:6.2f}x (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
