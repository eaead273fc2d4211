"""Browser settings for the UI driver, filled by the pytest plugin / CLI or the environment.

The command line wins over the environment, the environment over the defaults. The pytest
plugin's options all carry the `--crmqa-` prefix (crmqa/pytest_plugin/options.py); `crmqa run`
takes the short names:

| setting | `crmqa run` | `pytest` | environment | default |
|---|---|---|---|---|
| headed | `--headed` | `--crmqa-headed` | `CRMQA_HEADED=1` | headless |
| viewport | `--viewport 1280x800` | `--crmqa-viewport` | `CRMQA_VIEWPORT` | 1280x800 |
| remote browser | `--browser-url ws://…` | `--crmqa-browser-url` | `CRMQA_BROWSER_URL` | local |
| Chromium binary | | | `CHROMIUM_PATH` | /usr/bin/chromium |
| video | `--video` | `--crmqa-video` | `CRMQA_VIDEO=1` | off |
| trace | `--trace on` | `--crmqa-trace` | `CRMQA_TRACE` | the run's evidence mode |
| slow motion | `--slow-mo 250` | `--crmqa-slow-mo` | `CRMQA_SLOW_MO` | 0 ms |
| step timeout | `--ui-timeout 5` | `--crmqa-ui-timeout` | `CRMQA_UI_TIMEOUT` | 5 s, at most 10 |

A step's own `timeout_s` wins over the step timeout; docs/ui.md says more.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from crmqa.core.errors import CrmqaError

TraceMode = Literal["on", "off", "retain-on-failure"]
TRACE_MODES: tuple[TraceMode, ...] = ("on", "off", "retain-on-failure")

# Flags that keep Debian's Chromium quiet on a closed network (it otherwise keeps trying to
# reach outside hosts) and working as root in containers.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# The bound: a UI step never waits longer than this unless the step says so.
MAX_DEFAULT_TIMEOUT_S = 10.0


class UiOptionsError(CrmqaError):
    """A browser option given on the command line or in the environment is invalid."""


@dataclass(frozen=True)
class UiOptions:
    """How the UI driver runs its browser. Immutable; use `with_overrides` to change."""

    headed: bool = False
    viewport: tuple[int, int] = (1280, 800)
    browser_url: str | None = None  # ws://... for Playwright's connect (a grid)
    chromium_path: str = "/usr/bin/chromium"
    video: bool = False
    trace: TraceMode = "retain-on-failure"
    slow_mo_ms: float = 0.0
    timeout_s: float = 5.0  # default per-step bound, <= MAX_DEFAULT_TIMEOUT_S
    extra_args: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.trace not in TRACE_MODES:
            raise UiOptionsError(
                f"trace must be one of {', '.join(TRACE_MODES)}, not {self.trace!r}"
            )
        width, height = self.viewport
        if width < 200 or height < 200 or width > 10000 or height > 10000:
            raise UiOptionsError(f"viewport {width}x{height} is out of range (200..10000)")
        if not 0 < self.timeout_s <= MAX_DEFAULT_TIMEOUT_S:
            raise UiOptionsError(
                "the default UI step timeout must be above 0 and at most "
                f"{MAX_DEFAULT_TIMEOUT_S:g} s"
                " (set timeout_s on a step for a longer wait)"
            )
        if self.slow_mo_ms < 0:
            raise UiOptionsError("slow_mo must not be negative")
        if self.browser_url is not None and not re.match(r"^(wss?|https?)://", self.browser_url):
            raise UiOptionsError(
                f"browser URL {self.browser_url!r} must start with ws://, wss://, http:// or https://"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> UiOptions:
        """Options from CRMQA_* environment variables (and CHROMIUM_PATH), else defaults."""
        env = os.environ if env is None else env
        kwargs: dict[str, object] = {}
        if "CRMQA_HEADED" in env:
            kwargs["headed"] = _flag("CRMQA_HEADED", env["CRMQA_HEADED"])
        if env.get("CRMQA_VIEWPORT"):
            kwargs["viewport"] = parse_viewport(env["CRMQA_VIEWPORT"])
        if env.get("CRMQA_BROWSER_URL"):
            kwargs["browser_url"] = env["CRMQA_BROWSER_URL"]
        if env.get("CHROMIUM_PATH"):
            kwargs["chromium_path"] = env["CHROMIUM_PATH"]
        if "CRMQA_VIDEO" in env:
            kwargs["video"] = _flag("CRMQA_VIDEO", env["CRMQA_VIDEO"])
        if env.get("CRMQA_TRACE"):
            kwargs["trace"] = env["CRMQA_TRACE"]
        if env.get("CRMQA_SLOW_MO"):
            kwargs["slow_mo_ms"] = _number("CRMQA_SLOW_MO", env["CRMQA_SLOW_MO"])
        if env.get("CRMQA_UI_TIMEOUT"):
            kwargs["timeout_s"] = _number("CRMQA_UI_TIMEOUT", env["CRMQA_UI_TIMEOUT"])
        return cls(**kwargs)  # type: ignore[arg-type]

    def with_overrides(
        self,
        *,
        headed: bool | None = None,
        viewport: str | tuple[int, int] | None = None,
        browser_url: str | None = None,
        video: bool | None = None,
        trace: str | None = None,
        slow_mo_ms: float | None = None,
        timeout_s: float | None = None,
    ) -> UiOptions:
        """A copy with the given (command-line) values; None leaves a value as it is."""
        changes: dict[str, object] = {}
        if headed is not None:
            changes["headed"] = headed
        if viewport is not None:
            changes["viewport"] = (
                parse_viewport(viewport) if isinstance(viewport, str) else viewport
            )
        if browser_url is not None:
            changes["browser_url"] = browser_url or None
        if video is not None:
            changes["video"] = video
        if trace is not None:
            changes["trace"] = trace
        if slow_mo_ms is not None:
            changes["slow_mo_ms"] = slow_mo_ms
        if timeout_s is not None:
            changes["timeout_s"] = timeout_s
        return replace(self, **changes)  # type: ignore[arg-type]

    def check_local_browser(self) -> None:
        """Fail with a clear message when the local Chromium binary is missing."""
        if self.browser_url is None and not Path(self.chromium_path).is_file():
            raise UiOptionsError(
                f"Chromium not found at {self.chromium_path}: install it (scripts/setup.sh runs "
                "`apt-get install chromium`) or set CHROMIUM_PATH, or give --browser-url "
                "(pytest: --crmqa-browser-url)"
            )


def parse_viewport(text: str) -> tuple[int, int]:
    """`1280x800` -> (1280, 800)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX\u00d7]\s*(\d+)\s*", text)
    if not match:
        raise UiOptionsError(f"viewport {text!r} must look like 1280x800")
    return int(match.group(1)), int(match.group(2))


def _flag(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise UiOptionsError(f"{name}={text!r}: use 1 or 0")


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UiOptionsError(f"{name}={text!r} is not a number") from None
