"""crmqa's pytest options for the UI driver, and how they reach the driver in every process.

Every option crmqa adds to pytest carries the `--crmqa-` prefix, so that crmqa coexists with
other plugins in one environment (pytest-playwright owns `--headed` and `--video`,
pytest-base-url owns `--base-url`). The UI driver reads its settings from `CRMQA_*`
environment variables (`UiOptions.from_env`): the controller exports the options there, and
pytest-xdist workers inherit them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

from crmqa.drivers.ui.options import TRACE_MODES, UiOptions, UiOptionsError, parse_viewport


@dataclass(frozen=True)
class UiOption:
    """One browser setting: its pytest option, the `UiOptions` field and the variable."""

    name: str  # pytest option, e.g. --crmqa-headed
    field: str  # UiOptions field it sets
    env: str  # CRMQA_* variable the UI driver reads
    help: str
    metavar: str | None = None  # None: a flag without a value
    convert: Callable[[str], object] = str

    @property
    def dest(self) -> str:
        return self.name.removeprefix("--").replace("-", "_")

    @property
    def is_flag(self) -> bool:
        return self.metavar is None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UiOptionsError(f"{text!r} is not a number") from None


def _trace(text: str) -> str:
    if text not in TRACE_MODES:
        raise UiOptionsError(f"use one of {', '.join(TRACE_MODES)}, not {text!r}")
    return text


UI_OPTIONS: tuple[UiOption, ...] = (
    UiOption("--crmqa-headed", "headed", "CRMQA_HEADED", "show the browser for UI steps"),
    UiOption("--crmqa-viewport", "viewport", "CRMQA_VIEWPORT",
             "browser viewport (default: 1280x800)", "WxH", parse_viewport),
    UiOption("--crmqa-browser-url", "browser_url", "CRMQA_BROWSER_URL",
             "drive a remote browser: ws://... (Playwright connect) or http://host:9222 (CDP)",
             "URL"),
    UiOption("--crmqa-video", "video", "CRMQA_VIDEO",
             "record video of UI cases (needs Playwright's ffmpeg)"),
    UiOption("--crmqa-trace", "trace", "CRMQA_TRACE",
             f"Playwright trace: {' | '.join(TRACE_MODES)} (default: the evidence mode)",
             "MODE", _trace),
    UiOption("--crmqa-slow-mo", "slow_mo_ms", "CRMQA_SLOW_MO",
             "slow every browser action down by MS milliseconds (default: 0)", "MS", _number),
    UiOption("--crmqa-ui-timeout", "timeout_s", "CRMQA_UI_TIMEOUT",
             "default bound of a UI step in seconds, at most 10 (default: 5; a step's "
             "timeout_s wins)", "S", _number),
)


def check_ui_value(option: UiOption, text: str) -> object:
    """The value of `option` given as `text`, checked as the UI driver will check it.

    Raises `UiOptionsError` with the reason, so a bad value stops the run before it starts
    instead of breaking every UI case.
    """
    value = option.convert(text)
    changes: dict[str, Any] = {option.field: value}
    replace(UiOptions(), **changes)  # UiOptions checks every value it holds
    return value


def _argparse_type(option: UiOption) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            check_ui_value(option, text)
        except UiOptionsError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text  # exported as given: the driver parses the variable itself

    parse.__name__ = option.dest
    return parse


def add_ui_options(group: pytest.OptionGroup) -> None:
    """Add the `--crmqa-*` browser options to pytest's crmqa group."""
    for option in UI_OPTIONS:
        extra = f" [env {option.env}]"
        if option.is_flag:
            group.addoption(option.name, action="store_true", help=option.help + extra)
        else:
            group.addoption(
                option.name,
                default=None,
                metavar=option.metavar,
                type=_argparse_type(option),
                help=option.help + extra,
            )


def export_ui_options(values: Any, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the browser options given on the command line into the environment.

    `values` is pytest's `config.option`; an option not given leaves its variable as it is,
    so the command line wins over the environment and the environment over the defaults.
    """
    environ = os.environ if environ is None else environ
    for option in UI_OPTIONS:
        value = getattr(values, option.dest, None)
        if option.is_flag:
            if value:
                environ[option.env] = "1"
        elif value is not None:
            environ[option.env] = str(value)
