"""Browser options: `crmqa run`'s short names -> the plugin's `--crmqa-*` options -> the
CRMQA_* variables the UI driver reads in every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmqa.cli.main import cli
from crmqa.cli.running import pytest_arguments
from crmqa.drivers.ui.options import UiOptionsError
from crmqa.pytest_plugin.options import UI_OPTIONS, check_ui_value, export_ui_options
from tests.cli.help_text import ROOT

PLAN = ROOT / "plans" / "sandbox.yaml"
UI_VARIABLES = {option.env for option in UI_OPTIONS}

# A plugin that records the CRMQA_* variables a run's tests would see.
PROBE = '''
import json, os

def pytest_collection_finish(session):
    seen = {k: v for k, v in os.environ.items() if k.startswith("CRMQA_")}
    with open(os.environ["PROBE_OUT"], "w", encoding="utf-8") as handle:
        json.dump(seen, handle)
'''


def test_crmqa_run_maps_its_short_options_onto_prefixed_pytest_options() -> None:
    args = pytest_arguments(
        PLAN, headed=True, viewport="1024x768", browser_url="ws://grid:3000/", video=True,
        trace="on", slow_mo=250.0, ui_timeout=2.5,
    )
    line = " ".join(args)
    for expected in (
        "--crmqa-headed", "--crmqa-viewport 1024x768", "--crmqa-browser-url ws://grid:3000/",
        "--crmqa-video", "--crmqa-trace on", "--crmqa-slow-mo 250", "--crmqa-ui-timeout 2.5",
    ):
        assert expected in line
    plugin_options = {a for a in args if a.startswith("--crmqa-")}
    assert plugin_options <= {o.name for o in UI_OPTIONS} | {"--crmqa-live", "--crmqa-reports"}
    for short in ("--headed", "--viewport", "--browser-url", "--video", "--trace"):
        assert short not in args  # pytest-playwright owns some of these names
    assert not any(a.startswith("--crmqa-") for a in pytest_arguments(PLAN)[4:])


def test_export_sets_only_what_the_command_line_gave() -> None:
    environ = {"CRMQA_VIEWPORT": "800x600", "CRMQA_HEADED": "1"}
    given = Namespace(crmqa_headed=False, crmqa_viewport=None, crmqa_browser_url=None,
                      crmqa_video=True, crmqa_trace="off", crmqa_slow_mo="0",
                      crmqa_ui_timeout="3")
    export_ui_options(given, environ)
    assert environ == {
        "CRMQA_VIEWPORT": "800x600",  # not given: the environment stays
        "CRMQA_HEADED": "1",  # a flag not given does not switch the variable off
        "CRMQA_VIDEO": "1",
        "CRMQA_TRACE": "off",
        "CRMQA_SLOW_MO": "0",
        "CRMQA_UI_TIMEOUT": "3",
    }


def _run(command: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    (tmp_path / "crmqa_env_probe.py").write_text(PROBE, encoding="utf-8")
    out = tmp_path / "seen.json"
    env = {k: v for k, v in os.environ.items() if k not in UI_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp_path), env.get("PYTHONPATH")) if p)
    env["PROBE_OUT"] = str(out)
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )
    seen = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return done, seen


EXPECTED = {
    "CRMQA_HEADED": "1", "CRMQA_VIEWPORT": "1024x768", "CRMQA_BROWSER_URL": "ws://grid:3000/",
    "CRMQA_VIDEO": "1", "CRMQA_TRACE": "on", "CRMQA_SLOW_MO": "250", "CRMQA_UI_TIMEOUT": "2.5",
}


def test_crmqa_run_options_reach_the_ui_driver_variables(tmp_path: Path) -> None:
    done, seen = _run(
        ["crmqa", "run", str(PLAN), "--reports", str(tmp_path / "reports"), "--headed",
         "--viewport", "1024x768", "--browser-url", "ws://grid:3000/", "--video",
         "--trace", "on", "--slow-mo", "250", "--ui-timeout", "2.5",
         "--collect-only", "-p", "crmqa_env_probe"],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {k: v for k, v in seen.items() if k in UI_VARIABLES} == EXPECTED


def test_pytest_options_reach_the_ui_driver_variables(tmp_path: Path) -> None:
    done, seen = _run(
        ["pytest", str(PLAN), "--crmqa-reports", str(tmp_path / "reports"), "--crmqa-headed",
         "--crmqa-viewport", "1024x768", "--crmqa-browser-url", "ws://grid:3000/",
         "--crmqa-video", "--crmqa-trace", "on", "--crmqa-slow-mo", "250",
         "--crmqa-ui-timeout", "2.5", "--collect-only", "-q", "-p", "crmqa_env_probe"],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {k: v for k, v in seen.items() if k in UI_VARIABLES} == EXPECTED


BAD_VALUES = [
    ("--crmqa-viewport", "big", "must look like 1280x800"),
    ("--crmqa-ui-timeout", "60", "at most 10 s"),
    ("--crmqa-slow-mo", "-5", "must not be negative"),
    ("--crmqa-browser-url", "grid:3000", "must start with ws://"),
    ("--crmqa-trace", "always", "use one of on, off, retain-on-failure"),
]


@pytest.mark.parametrize(("option", "value", "reason"), BAD_VALUES)
def test_crmqa_run_refuses_a_bad_value_with_exit_3(option: str, value: str, reason: str) -> None:
    short = option.replace("--crmqa-", "--")
    done = CliRunner().invoke(cli, ["run", str(PLAN), short, value], prog_name="crmqa")
    assert done.exit_code == 3, done.output
    assert reason in done.output or "always" in done.output  # click words --trace itself


@pytest.mark.parametrize(("option", "value", "reason"), BAD_VALUES)
def test_the_plugin_checks_values_as_the_driver_will(option: str, value: str, reason: str) -> None:
    (spec,) = [o for o in UI_OPTIONS if o.name == option]
    with pytest.raises(UiOptionsError, match=reason):
        check_ui_value(spec, value)


def test_pytest_refuses_a_bad_value_before_anything_runs(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    done, seen = _run(
        ["pytest", str(PLAN), "--crmqa-reports", str(reports), "--crmqa-viewport", "big"],
        tmp_path,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--crmqa-viewport: viewport 'big' must look like 1280x800" in done.stderr
    assert "Traceback" not in done.stderr
    assert seen == {} and not reports.exists()  # nothing collected, no run folder
