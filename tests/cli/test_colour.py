"""Colour follows the output: none into a pipe or a file, ANSI codes on request (FORCE_COLOR).

The CLI's own lines come from rich consoles with rich's defaults (a terminal, NO_COLOR,
FORCE_COLOR); the verdict printed at the end of a run goes through pytest's terminal writer and
follows its decision, so a CI log or `crmqa run ... > log.txt` holds no escape codes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crmqa.sandbox.testing import SandboxHandle
from tests.cli.help_text import ROOT

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOUR_VARIABLES = ("FORCE_COLOR", "NO_COLOR", "PY_COLORS", "TTY_COMPATIBLE", "CLICOLOR_FORCE")


def crmqa(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m crmqa ...` with stdout and stderr piped, colour settings only as given."""
    base = {k: v for k, v in os.environ.items() if k not in COLOUR_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "crmqa", *args],
        cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=600,
    )


def _broken_plan(folder: Path) -> Path:
    plan = folder / "broken.yaml"
    plan.write_text(
        "id: x\nname: X\nsystem: {name: s}\ntarget: t\ntargets:\n"
        "  t: {profile: sandbox, base_url: http://127.0.0.1:9}\n"
        "cases:\n  - id: A\n    title: a\n    categroy: functional\n"
        "    steps: [{op: lead.get, with: {id: 1}}]\n",
        encoding="utf-8",
    )
    return plan


def test_validate_writes_no_escape_codes_into_a_pipe(tmp_path: Path) -> None:
    done = crmqa("validate", str(_broken_plan(tmp_path)), cwd=tmp_path)
    assert done.returncode == 3
    assert "problem(s) found" in done.stderr and "broken.yaml:10:" in done.stderr
    assert not ANSI.search(done.stdout + done.stderr), done.stderr


def test_validate_colours_when_asked(tmp_path: Path) -> None:
    done = crmqa("validate", str(_broken_plan(tmp_path)), cwd=tmp_path, FORCE_COLOR="1")
    assert done.returncode == 3
    assert ANSI.search(done.stderr), done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("force", [False, True], ids=["piped", "FORCE_COLOR"])
def test_a_run_colours_only_when_asked(
    sandbox: SandboxHandle, tmp_path: Path, force: bool
) -> None:
    env = {"CRMQA_SANDBOX_URL": sandbox.base_url, "CRMQA_SANDBOX_PASSWORD": sandbox.password}
    if force:
        env["FORCE_COLOR"] = "1"
    done = crmqa(
        "run", str(ROOT / "plans" / "sandbox.yaml"),
        "-k", "LEAD-ADD-001 or LEAD-SEARCH-001 or SEC-AUTH-001",  # the must-pass cases
        "--reports", str(tmp_path / "reports"), cwd=tmp_path, **env,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    verdict_part = done.stdout[done.stdout.index("Gates: actual vs required") - 300:]
    assert "LEAD-ADD-001" in done.stdout and "Reports:" in verdict_part
    # paths stay on one line in a narrow pipe, so they can be copied
    assert f"Run folder:     {tmp_path / 'reports'}" in ANSI.sub("", done.stdout)
    if force:
        assert ANSI.search(verdict_part), verdict_part  # the verdict and the gate table
        assert ANSI.search(done.stdout[: done.stdout.index("LEAD-ADD-001")])  # the CLI's lines
    else:
        assert not ANSI.search(output), [line for line in output.splitlines() if ANSI.search(line)]
