"""Reading the options a `--help` text defines (pytest's argparse, click, argparse)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRMQA_GROUP = "crmqa acceptance runs"  # the title of the plugin's option group

OPTION = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
# An option line: indented a little, then the option column, then two spaces and the help
# (or the option column alone, with the help on the next lines).
_OPTION_LINE = re.compile(r"^ {1,6}(-\S.*)$")


def options_on_line(line: str) -> set[str]:
    """The long options a help line defines (none for a line of description)."""
    match = _OPTION_LINE.match(line)
    if not match:
        return set()
    column = re.split(r"\s{2,}", match.group(1), maxsplit=1)[0]
    return set(OPTION.findall(column))


def defined_options(help_text: str) -> set[str]:
    """Every long option the help text defines."""
    found: set[str] = set()
    for line in help_text.splitlines():
        found |= options_on_line(line)
    return found


def help_groups(help_text: str) -> dict[str, set[str]]:
    """pytest's help, option group by group: title -> long options."""
    groups: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in help_text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = groups.setdefault(line.rstrip()[:-1], set())
        elif current is not None:
            current |= options_on_line(line)
    return groups


def pytest_help(cwd: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    """`python -m pytest --help` as a user sees it, in a folder without pytest settings."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:locust", *extra],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout
