"""crmqa builds as a wheel without deprecation warnings, with its license as SPDX metadata."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked_copy(destination: Path) -> Path:
    """The repository's tracked files, so the build neither sees nor leaves local litter."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:  # not a git checkout (an unpacked source archive)
        shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(
            ".venv", "node_modules", "reports", "build", "*.egg-info", ".*cache", ".git"))
        return destination
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.mark.slow
def test_the_wheel_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    source = _tracked_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    done = subprocess.run(
        # -v: pip shows what the build backend prints, where setuptools warns
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-v", "-w", str(dist)],
        capture_output=True, text=True, timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    warnings = [line for line in output.splitlines() if re.search(r"deprecat", line, re.I)]
    assert warnings == [], "\n".join(warnings)
    (wheel,) = dist.glob("crmqa-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode("utf-8")
        entry_points = archive.read(metadata.replace("METADATA", "entry_points.txt")).decode()
    assert "License-Expression: Apache-2.0" in text.splitlines()
    assert "crmqa = crmqa.pytest_plugin.plugin" in entry_points  # the pytest11 plugin
