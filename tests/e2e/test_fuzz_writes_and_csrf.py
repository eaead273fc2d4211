"""Write fuzzing and CSRF on every form, through plans/sandbox.yaml against the real sandbox.

One sandbox carries two seeded faults no case was written for: a change naming a field the
record lacks answers 500 (only generated writes send one), and the convert button on a lead's
page and the import form skip their CSRF check (forms the profile's screen map does not name
as forms). SEC-FUZZ-002 and the generated CSRF cases of the lead's page and import form must
catch them, and what the fuzzed writes made must be gone when the run ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crmqa.sandbox.testing import SandboxClient
from tests.e2e.test_generated_cases import PLAN, ROOT, by_outcome

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-fuzz-csrf")]

CASES = ("SEC-FUZZ-002", "GEN-CSRF-lead-detail", "GEN-CSRF-lead-import")
# Entities the fuzzed writes make records of and neither accepted forgery does (a conversion
# makes an account, a contact and an opportunity; an import, leads).
ONLY_FUZZED = ("/api/cases", "/api/users")


def _totals(client: SandboxClient) -> dict[str, int]:
    totals = {}
    for path in ONLY_FUZZED:
        body = client.get(path, params={"page_size": 1}).json()
        totals[path] = body["total"] if isinstance(body, dict) else len(body)
    return totals


def test_write_fuzzing_and_every_form_csrf_catch_what_no_case_was_written_for(
        sandbox_factory: Any, tmp_path: Path) -> None:
    faulty = sandbox_factory(["update_unknown_field_server_error",
                              "csrf_convert_import_unchecked"])
    client = SandboxClient(faulty, "admin")
    before = _totals(client)
    env = {**os.environ, "CRMQA_SANDBOX_URL": faulty.base_url,
           "CRMQA_SANDBOX_PASSWORD": faulty.password}
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "crmqa", "run", str(PLAN), "-k", " or ".join(CASES),
         "--reports", str(reports), "-n", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    results = [json.loads(line) for path in sorted(reports.glob("*/results/*.jsonl"))
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert {r["case_id"] for r in results} == set(CASES), done.stdout[-3000:]
    failed = by_outcome(results, "failed")
    assert set(failed) == set(CASES), (failed, by_outcome(results, "broken"))
    # the finding, its kind, the write it came from, and how to send it again
    assert "(server error)" in failed["SEC-FUZZ-002"]
    assert ".update) -> 500" in failed["SEC-FUZZ-002"]
    assert "reproduce with: curl -X PATCH" in failed["SEC-FUZZ-002"]
    assert "/convert (Convert): the form accepted a submission forged" in failed[
        "GEN-CSRF-lead-detail"]
    assert "/leads/import (Import)" in failed["GEN-CSRF-lead-import"]
    assert "chosen file(s) file" in failed["GEN-CSRF-lead-import"]
    # nothing the fuzzed writes made is left, also though the case failed
    fuzz = next(r for r in results if r["case_id"] == "SEC-FUZZ-002")
    assert fuzz["leftovers"] == []
    assert _totals(client) == before
    client.close()
