"""Browser options from the environment and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.registry import DriverEnvironment
from crmqa.drivers.ui.driver import create_ui_driver
from crmqa.drivers.ui.options import UiOptions, UiOptionsError, parse_viewport
from crmqa.plan.models import UiStep


def test_defaults_are_headless_local_chromium_with_traces_kept_on_failure() -> None:
    options = UiOptions.from_env({})
    assert options.headed is False
    assert options.chromium_path == "/usr/bin/chromium"
    assert options.browser_url is None
    assert options.trace == "retain-on-failure"
    assert 0 < options.timeout_s <= 10


def test_environment_then_command_line() -> None:
    options = UiOptions.from_env({
        "CRMQA_HEADED": "1", "CRMQA_BROWSER_URL": "ws://grid:3000/", "CHROMIUM_PATH": "/opt/c",
        "CRMQA_VIEWPORT": "1024x768", "CRMQA_TRACE": "on", "CRMQA_UI_TIMEOUT": "2",
    })
    assert (options.headed, options.browser_url, options.chromium_path) == (
        True, "ws://grid:3000/", "/opt/c")
    assert options.viewport == (1024, 768) and options.trace == "on" and options.timeout_s == 2
    changed = options.with_overrides(headed=False, viewport="1280x800", video=True, trace="off")
    assert (changed.headed, changed.viewport, changed.video, changed.trace) == (
        False, (1280, 800), True, "off")
    assert changed.browser_url == "ws://grid:3000/"  # untouched


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"CRMQA_VIEWPORT": "big"}, "must look like 1280x800"),
        ({"CRMQA_VIEWPORT": "10x10"}, "out of range"),
        ({"CRMQA_TRACE": "always"}, "trace must be one of"),
        ({"CRMQA_UI_TIMEOUT": "60"}, "at most 10 s"),
        ({"CRMQA_HEADED": "maybe"}, "use 1 or 0"),
        ({"CRMQA_BROWSER_URL": "grid:3000"}, "must start with ws://"),
    ],
)
def test_bad_values_are_clear_errors(env: dict[str, str], words: str) -> None:
    with pytest.raises(UiOptionsError, match=words):
        UiOptions.from_env(env)


def test_viewport_and_missing_browser() -> None:
    assert parse_viewport(" 800 X 600 ") == (800, 600)
    with pytest.raises(UiOptionsError, match="Chromium not found at /nowhere/chromium"):
        UiOptions(chromium_path="/nowhere/chromium").check_local_browser()
    UiOptions(chromium_path="/nowhere", browser_url="ws://grid/").check_local_browser()


def test_a_bad_setting_breaks_ui_steps_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRMQA_VIEWPORT", "huge")
    env = DriverEnvironment(target=None, worker_id="gw0", run_dir=tmp_path,  # type: ignore[arg-type]
                            base_dir=tmp_path)
    driver = create_ui_driver(env)  # building never fails: the engine would call it "missing"
    with pytest.raises(EnvironmentProblem, match="viewport 'huge' must look like 1280x800"):
        driver.run(UiStep(ui="open", target="lead_list"), None)  # type: ignore[arg-type]


def test_the_run_evidence_mode_sets_the_trace_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CRMQA_TRACE", raising=False)
    env = DriverEnvironment(target=None, worker_id="gw0", run_dir=tmp_path,  # type: ignore[arg-type]
                            base_dir=tmp_path, evidence="off")
    assert create_ui_driver(env).options.trace == "off"
    given = UiOptions(headed=True)
    env.options["ui"] = given
    assert create_ui_driver(env).options is given
