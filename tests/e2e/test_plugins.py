"""A third party adds a kind of step and its driver through entry points, as crmqa's own do.

The plug-in lives in a temporary folder with its own dist-info (an installed package, as far
as importlib.metadata can tell); crmqa validates, collects and runs its steps through the real
command line, with no change to crmqa.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow]

PLUGIN = '''\
"""An `echo:` step: the driver answers with what the step says, upper-cased."""
from typing import Any
from pydantic import Field
from crmqa.drivers.base import StepCheckContext, StepOutput, StepProblem
from crmqa.plan.step_kinds import StepKind
from crmqa.plan.steps import StepBase


class EchoStep(StepBase):
    echo: str = Field(description="the text to echo")

    def describe(self) -> str:
        return f"echo {self.echo}"


STEP_KINDS = [StepKind("echo", EchoStep)]


class EchoDriver:
    name = "echo"

    def __init__(self, env: Any) -> None:
        self.env = env

    def handles(self, step: Any) -> bool:
        return isinstance(step, EchoStep)

    def needs(self, step: Any) -> list[str]:
        return []

    def run(self, step: Any, ctx: Any) -> StepOutput:
        return StepOutput(data={"said": step.echo.upper()}, summary=f"echo {step.echo}")

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        return None

    def close(self) -> None:
        return None


def check(step: Any, context: StepCheckContext) -> list[StepProblem]:
    if isinstance(step, EchoStep) and not step.echo.strip():
        return [StepProblem("an echo needs something to say", ("echo",))]
    return []


def register(registry: Any) -> None:
    registry.register("echo", (EchoStep,), EchoDriver, check=check)
'''

PLAN = """\
id: echo-plan
name: Echo
system: {name: none}
target: t
targets:
  t: {profile: sandbox, base_url: "http://127.0.0.1:9"}
cases:
  - id: ECHO-1
    title: The driver echoes
    steps:
      - echo: hello
        expect:
          body: [{path: said, equals: HELLO}]
      - echo: "  "
"""


def install_plugin(folder: Path) -> dict[str, str]:
    (folder / "echo_plugin.py").write_text(PLUGIN, encoding="utf-8")
    dist = folder / "echo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[crmqa.step_kinds]\necho = echo_plugin:STEP_KINDS\n\n"
        "[crmqa.drivers]\necho = echo_plugin:register\n", encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "NO_COLOR": "1"}


def crmqa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crmqa", *args], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, **env}, timeout=300)


def test_a_third_party_step_kind_is_validated_and_run(tmp_path: Path) -> None:
    env = install_plugin(tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    # its own step check runs in the one validation, positioned in the plan
    done = crmqa("validate", str(plan), env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"{plan}:14:15: an echo needs something to say" in done.stderr
    # a misspelt key lists the registered kinds among the ones a step may have
    plan.write_text(PLAN.replace('      - echo: "  "\n', "      - ecko: hi\n"), encoding="utf-8")
    done = crmqa("validate", str(plan), env=env)
    assert done.returncode == 3
    kinds = re.search(r"exactly one of ([^;]*);", done.stderr)
    assert kinds and "echo" in kinds.group(1).split(", "), done.stderr
    assert "did you mean 'echo'" in done.stderr
    # and it runs: its step, its check, its evidence, like any built-in kind
    plan.write_text(PLAN.replace('      - echo: "  "\n', ""), encoding="utf-8")
    reports = tmp_path / "reports"
    done = crmqa("run", str(plan), "--reports", str(reports), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = [p for p in reports.iterdir() if p.is_dir()]
    (line,) = (folder / "results").glob("*.jsonl")
    result = json.loads(line.read_text().splitlines()[0])
    assert result["outcome"] == "passed"
    assert result["steps"][0]["kind"] == "echo" and result["steps"][0]["action"] == "echo hello"
    # the JSON Schema editors use knows the kind too
    done = crmqa("schema", "--out", str(tmp_path / "schema"), env=env)
    assert "EchoStep" in (tmp_path / "schema" / "plan.schema.json").read_text()
