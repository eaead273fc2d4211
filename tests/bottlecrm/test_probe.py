"""`crmqa probe plans/bottlecrm.yaml` on a real BottleCRM: every operation the built-in
profile declares works, and the throw-away records are gone afterwards.

The probe is how the profile's contact, account, opportunity and case entries were put
right: their writes answer without the record (read_back), a case's subject is its `name`,
and a case needs a status and a priority (body_defaults).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from crmqa.profiles.loader import resolve_profile

from .provision import BottleCrm

pytestmark = [pytest.mark.bottlecrm, pytest.mark.slow, pytest.mark.xdist_group("bottlecrm")]

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAN = REPO_ROOT / "plans" / "bottlecrm.yaml"


def _rows(output: str) -> dict[str, str]:
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)]
        if len(cells) >= 2 and re.fullmatch(r"[a-z]+\.[a-z]+|login as \w+|health check",
                                            cells[0]):
            rows[cells[0]] = cells[1]
    return rows


def test_every_operation_of_the_bottlecrm_profile_works(bottlecrm: BottleCrm) -> None:
    env = {**os.environ, **bottlecrm.env(), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "crmqa", "probe", str(PLAN)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    rows = _rows(done.stdout)
    profile = resolve_profile("bottlecrm")
    declared = {f"{entity}.{op}" for entity, spec in profile.entities.items()
                for op in spec.operations}
    assert declared <= set(rows), sorted(declared - set(rows))
    assert {op: rows[op] for op in sorted(declared) if rows[op] != "works"} == {}
    assert rows["login as admin"] == rows["login as sales"] == "works"
    assert "is fit to run the plan" in done.stdout
    headers = {"Authorization": f"Bearer {bottlecrm.admin_token}"}
    for plural in ("leads", "contacts", "accounts", "opportunities", "cases"):
        answer = requests.get(f"{bottlecrm.base_url}/api/{plural}/", headers=headers,
                              params={"limit": 100}, timeout=30)
        assert "crmqa probe" not in answer.text.lower() and "crmqaprobe" not in (
            answer.text.lower()), plural
