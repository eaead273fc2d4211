"""What a run of API cases imports: none of the heavy libraries other kinds of work need.

Every pytest run in an environment with crmqa installed loads its plugin, and every
pytest-xdist worker pays crmqa's start-up again; the browser, load, migration and fuzzing
drivers (Playwright, Locust, DuckDB, Schemathesis) and Faker are imported only when a plan
uses them. The probe below records `sys.modules` in the pytest process itself, after the
cases ran and before the controller concludes the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLAN = """\
id: startup
name: Start-up
system: {name: x}
target: t
targets:
  t:
    profile: sandbox
    base_url: http://127.0.0.1:9
    identities:
      default: {default_username: sales, password_env: STARTUP_PASSWORD}
cases:
  - id: READ
    title: Read a lead
    parameters: [{n: 1}, {n: 2}]
    steps:
      - op: lead.get
        with: {id: 1}
        expect: {outcome: ok, record: {email: a@example.com}, max_ms: 2000}
"""

PROBE = """\
import json, os, sys

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    with open(os.environ["STARTUP_PROBE_OUT"], "w") as out:
        json.dump({"modules": sorted(sys.modules), "items": len(session.items)}, out)
"""

# Loaded only by the kinds of work that need them; an API plan must not import any.
HEAVY = ("playwright", "locust", "gevent", "duckdb", "faker", "schemathesis", "hypothesis",
         "jsonschema", "jsonpath_ng", "crmqa.drivers.ui.driver", "crmqa.load.driver",
         "crmqa.migration.driver", "crmqa.fuzzing.driver", "crmqa.gates", "crmqa.ledger",
         "crmqa.reports.outputs")
# Other plugins in the environment import some of the same libraries themselves.
OTHER_PLUGINS = ("faker", "schemathesis", "hypothesispytest", "anyio", "locust")


def _run(tmp_path: Path, target: str) -> dict[str, object]:
    (tmp_path / "startup_probe.py").write_text(PROBE, encoding="utf-8")
    out = tmp_path / "modules.json"
    env = {**os.environ, "STARTUP_PROBE_OUT": str(out), "STARTUP_PASSWORD": "x",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path),
                                                        os.environ.get("PYTHONPATH")]))}
    disabled = [arg for name in OTHER_PLUGINS for arg in ("-p", f"no:{name}")]
    subprocess.run([sys.executable, "-m", "pytest", target, "-p", "startup_probe", *disabled,
                    "-p", "no:cacheprovider", "-p", "no:randomly", "-q", "-c", os.devnull,
                    "--rootdir", str(tmp_path), "--crmqa-reports", str(tmp_path / "reports")],
                   cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.exists(), "the probe did not run"
    found: dict[str, object] = json.loads(out.read_text(encoding="utf-8"))
    return found


def _loaded(found: dict[str, object], names: tuple[str, ...]) -> list[str]:
    modules = set(found["modules"])  # type: ignore[call-overload]
    return [name for name in names if name in modules]


@pytest.mark.slow
def test_an_api_plan_imports_no_heavy_library(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    found = _run(tmp_path, "plan.yaml")
    assert found["items"] == 2  # crmqa collected the cases and ran them
    assert _loaded(found, ("crmqa.engine", "crmqa.drivers.api.driver")) == [
        "crmqa.engine", "crmqa.drivers.api.driver"]
    assert _loaded(found, HEAVY) == []


@pytest.mark.slow
def test_an_ordinary_test_run_imports_nothing_of_crmqa_but_its_plugin(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    found = _run(tmp_path, "test_one.py")
    assert found["items"] == 1
    crmqa = [m for m in found["modules"] if m.startswith("crmqa")]  # type: ignore[attr-defined]
    assert "crmqa.pytest_plugin.plugin" in crmqa
    assert _loaded(found, ("pydantic", "crmqa.plan", "crmqa.core.results", *HEAVY)) == []
