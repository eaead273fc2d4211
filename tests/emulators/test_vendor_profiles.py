"""The built-in `salesforce`, `dynamics365` and `hubspot` profiles run the portable lead and
security suites through `crmqa run`, each against a local emulator of its vendor's documented
wire format, with no adapter: every case passes or is not applicable for a stated reason, the
verdict is ACCEPTED, and the emulator holds afterwards exactly what it held before. Then
`crmqa probe` finds every operation the profile declares working, the entities the suites do
not touch (contacts, accounts, opportunities, cases, users) included.

The emulators are not the vendors: these tests prove that the profiles speak the documented
wire format, not that a real org, environment or portal answers the same way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from crmqa.profiles.loader import resolve_profile
from tests.emulators.vendors import VENDORS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PASSED = "passed"
# case id -> how many times it runs (parameter sets) and what it must end as: passed, or not
# applicable with a reason matching the pattern ({vendor} is the profile's name).
EXPECTED: dict[str, tuple[int, str]] = {
    "LEAD-ADD-001": (1, PASSED),
    "LEAD-ADD-002": (3, PASSED),
    "LEAD-ADD-003": (1, PASSED),
    "LEAD-ADD-004": (2, PASSED),
    "LEAD-ADD-005": (4, PASSED),
    "LEAD-ADD-006": (2, PASSED),
    "LEAD-ADD-007": (1, PASSED),
    "LEAD-VIEW-001": (1, PASSED),
    "LEAD-VIEW-002": (1, PASSED),
    "LEAD-EDIT-001": (1, PASSED),
    "LEAD-EDIT-002": (1, PASSED),
    "LEAD-DEL-001": (1, PASSED),
    "LEAD-SEARCH-001": (1, PASSED),
    "LEAD-SEARCH-002": (1, PASSED),
    "LEAD-SEARCH-003": (1, PASSED),
    "LEAD-SEARCH-004": (1, PASSED),
    "LEAD-SEARCH-005": (1, PASSED),
    # None of the three products' default lead statuses is a "qualified" one a write may set.
    "LEAD-SEARCH-006": (1, r"status 'qualified' has no equivalent in this product "
                           r"\(profile '{vendor}'\)"),
    # Files go through asynchronous bulk jobs the profiles do not describe.
    "LEAD-IMP-001": (1, r"target '{vendor}' \(profile '{vendor}'\): lead\.import: \S+ imports"),
    "LEAD-IMP-002": (1, r"target '{vendor}' \(profile '{vendor}'\): lead\.import: \S+ imports"),
    "LEAD-IMP-003": (1, r"target '{vendor}' \(profile '{vendor}'\): lead\.import: \S+ imports"),
    "LEAD-EXP-001": (1, r"target '{vendor}' \(profile '{vendor}'\): lead\.export: \S+ exports"),
    "LEAD-EXP-002": (1, r"target '{vendor}' \(profile '{vendor}'\): lead\.export: \S+ exports"),
    "SEC-AUTH-001": (1, PASSED),
    "SEC-AUTH-002": (1, PASSED),
    # One integration identity per emulated tenant: no second sales user, no read-only one.
    "SEC-ACL-001": (1, r"target '{vendor}' has no identity 'sales'"),
    "SEC-ACL-002": (1, r"target '{vendor}' has no identity 'viewer'"),
    "SEC-INJ-001": (2, PASSED),
    "SEC-DATA-001": (1, PASSED),
    "SEC-CSV-001": (1, r"target '{vendor}' \(profile '{vendor}'\): lead\.export: \S+ exports"),
}


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_the_lead_and_security_suites_run_on_the_emulator(vendor: str, tmp_path: Path) -> None:
    spec = VENDORS[vendor]
    profile = resolve_profile(vendor)
    assert profile.adapter is None  # YAML only
    with spec.start() as server:
        before = server.emulator.live_records()  # type: ignore[attr-defined]
        env = {**os.environ, **spec.env(server), "COLUMNS": "200"}
        done = subprocess.run(
            [sys.executable, "-m", "crmqa", "run", str(spec.plan), "--reports", str(tmp_path),
             "--run-id", "run", "--no-html"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        after = server.emulator.live_records()  # type: ignore[attr-defined]
        probed = subprocess.run([sys.executable, "-m", "crmqa", "probe", str(spec.plan)],
                                cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=300, check=False)
        after_probe = server.emulator.live_records()  # type: ignore[attr-defined]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    run = tmp_path / "run"
    results = [json.loads(line) for path in sorted((run / "results").glob("*.jsonl"))
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    runs = Counter(result["case_id"] for result in results)
    assert runs == {case: count for case, (count, _) in EXPECTED.items()}
    wrong = []
    for result in results:
        expected = EXPECTED[result["case_id"]][1]
        if expected == PASSED:
            ok = result["outcome"] == PASSED
        else:
            ok = result["outcome"] == "not_applicable" and re.search(
                expected.format(vendor=vendor), result["message"]) is not None
        if not ok:
            wrong.append((result["case_id"], result["params"], result["outcome"],
                          result["message"][:300]))
    assert wrong == []

    verdict = json.loads((run / "verdict.json").read_text(encoding="utf-8"))
    assert verdict["decision"] == "ACCEPTED" and verdict["exit_code"] == 0
    # The product itself, not only crmqa's bookkeeping, holds nothing the run made.
    assert after == before

    assert probed.returncode == 0, probed.stdout[-6000:] + probed.stderr[-3000:]
    rows = _probe_rows(probed.stdout)
    declared = {f"{entity}.{op}" for entity, entity_spec in profile.entities.items()
                for op in entity_spec.operations}
    assert declared <= set(rows), sorted(declared - set(rows))
    assert {op: rows[op] for op in sorted(declared) if rows[op] != "works"} == {}
    assert rows["login as default"] == "works"
    assert f"profile '{vendor}' is fit to run the plan" in probed.stdout
    assert after_probe == before


def _probe_rows(output: str) -> dict[str, str]:
    """operation -> result, read from the probe's table."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)]
        if len(cells) >= 2 and re.fullmatch(r"[a-z]+\.[a-z]+|login as \w+", cells[0]):
            rows[cells[0]] = cells[1]
    return rows
