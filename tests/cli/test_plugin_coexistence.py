"""crmqa next to other popular pytest plugins in one environment.

pytest-playwright (with pytest-base-url) and pytest-html are installed with `pip --target`
into a cache folder outside the repository (reused when present; PyPI is reachable on these
machines and on CI) and put on PYTHONPATH, so pytest loads them through their entry points as
it would in a user's environment. Their options (`--headed`, `--video`, `--base-url`, `--html`)
once clashed with crmqa's unprefixed ones and crashed every pytest run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crmqa.sandbox.testing import SandboxHandle
from tests.cli.help_text import CRMQA_GROUP, ROOT, help_groups, pytest_help

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("plugin-compat")]

# Pure-Python packages, installed without their dependencies (pytest, playwright, requests
# and jinja2 are in the venv already): (distribution, import name).
PLUGINS = (
    ("pytest-playwright", "pytest_playwright"),
    ("pytest-base-url", "pytest_base_url"),
    ("python-slugify", "slugify"),
    ("text-unidecode", "text_unidecode"),
    ("pytest-html", "pytest_html"),
    ("pytest-metadata", "pytest_metadata"),
)
# An option of each plugin that once had, or could have had, a twin in crmqa.
THEIR_OPTIONS = ("--headed", "--video", "--browser", "--base-url", "--html")


def _cache_dir() -> Path:
    configured = os.environ.get("CRMQA_PLUGIN_COMPAT_CACHE")
    return Path(configured) if configured else Path.home() / ".cache/crmqa/plugin-compat"


@pytest.fixture(scope="module")
def plugin_path() -> Path:
    """The folder holding the other plugins, installed on first use."""
    cache = _cache_dir()
    if all((cache / module).is_dir() for _, module in PLUGINS):
        return cache
    staging = cache.with_name(f"{cache.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(staging), *(name for name, _ in PLUGINS)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Put in place only complete: an interrupted install must not pass for a cache.
    shutil.rmtree(cache, ignore_errors=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(cache)
    return cache


def _env(plugin_path: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(plugin_path), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def test_help_lists_crmqa_and_the_other_plugins_options(
    plugin_path: Path, tmp_path: Path
) -> None:
    text = pytest_help(tmp_path, env=_env(plugin_path))
    groups = help_groups(text)
    ours = groups[CRMQA_GROUP]
    theirs = set().union(*(options for title, options in groups.items() if title != CRMQA_GROUP))
    for option in THEIR_OPTIONS:
        assert option in theirs, f"{option} missing: is its plugin loaded?"
    assert {"--crmqa-headed", "--crmqa-video", "--crmqa-trace"} <= ours
    assert not ours & theirs


def test_a_plan_runs_with_the_other_plugins_installed(
    plugin_path: Path, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    # pytest-playwright empties its output folder (test-results/) when its fixtures run;
    # crmqa's cases use none of them, so a user's folder survives a plan run.
    keep = tmp_path / "test-results" / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("mine", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "plans" / "sandbox.yaml"), "-n", "2",
         "-k", "LEAD-ADD-001 or LEAD-SEARCH-001 or SEC-AUTH-001 or UI-LEAD-ADD",
         "--crmqa-reports", str(reports),
         "--crmqa-trace", "on"],
        cwd=tmp_path,
        env=_env(plugin_path, CRMQA_SANDBOX_URL=sandbox.base_url,
                 CRMQA_SANDBOX_PASSWORD=sandbox.password),
        capture_output=True, text=True, timeout=900,
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-4000:]
    assert done.returncode == 0, output[-4000:]  # the must-pass cases are in: ACCEPTED
    (run,) = [p for p in reports.iterdir() if p.is_dir()]
    verdict = json.loads((run / "verdict.json").read_text(encoding="utf-8"))
    assert verdict["exit_code"] == done.returncode
    results = [
        json.loads(line)
        for path in (run / "results").glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    outcomes = {(r["case_id"], json.dumps(r["params"])): r["outcome"] for r in results}
    assert ("LEAD-ADD-001", "{}") in outcomes and ("UI-LEAD-ADD-001", "{}") in outcomes
    assert set(outcomes.values()) == {"passed"}, outcomes
    assert {r["worker"] for r in results} == {"gw0", "gw1"}
    # --crmqa-trace reached both xdist workers: every UI case kept its trace
    traces = list((run / "evidence").glob("*/*-trace.zip"))
    ui_cases = [r for r in results if r["case_id"].startswith("UI-")]
    assert len(traces) == len(ui_cases) >= 4
    assert keep.read_text(encoding="utf-8") == "mine"
