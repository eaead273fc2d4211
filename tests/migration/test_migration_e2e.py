"""A migration reconciled end to end: `crmqa validate` and `crmqa run` against the real sandbox,
the migrated records read back through the CRM's API."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from crmqa.sandbox.testing import SandboxClient

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow]

LEGACY = [
    ["LegacyId", "FirstName", "LastName", "Email", "Status", "Phone"],
    ["A1", "Ann", "Lee", "ann.{tag}@migrated.test", "Open", "+7 495 123-45-67"],
    ["A2", "Иван", "Петров", "ivan.{tag}@migrated.test", "Working", ""],
    ["A3", "王", "伟", "wang.{tag}@migrated.test", "Open", "555"],
    ["A4", "Zoë", "O'Neil", "zoe.{tag}@migrated.test", "Closed", ""],
]

PLAN = """\
id: migration-e2e
name: Migration end to end
system: {{name: sandbox}}
target: sandbox
targets:
  sandbox:
    profile: sandbox
    base_url: "{{{{ env.CRMQA_SANDBOX_URL }}}}"
    identities:
      default: {{default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD}}
migration:
  source:
    lead: {{file: legacy.csv, key: LegacyId}}
  target:
    lead: {{from: crm, key: email, query: "{tag}@migrated.test"}}
  mapping:
    lead:
      first_name: {{from: FirstName}}
      last_name: {{from: LastName}}
      email: {{from: Email, transform: [trim, lower]}}
      status: {{from: Status, map: {{Open: new, Working: contacted, Closed: unqualified}}}}
  quality:
    lead: {{email: [Email], phone: [Phone]}}
include:
  - {suites}/migration/reconciliation.yaml
"""


def write(folder: Path, tag: str, mapping_fix: str = "") -> Path:
    with (folder / "legacy.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([[cell.format(tag=tag) for cell in row] for row in LEGACY])
    plan = folder / "plan.yaml"
    plan.write_text(PLAN.format(tag=tag, suites=ROOT / "suites") + mapping_fix,
                    encoding="utf-8")
    return plan


def migrate(admin: SandboxClient, tag: str, drop: str | None = None,
            status: dict[str, str] | None = None) -> list[int]:
    """The vendor's migration: legacy rows into the sandbox through its import API."""
    statuses = {"Open": "new", "Working": "contacted", "Closed": "unqualified", **(status or {})}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["first_name", "last_name", "email", "status"])
    for row in LEGACY[1:]:
        if row[0] == drop:
            continue
        writer.writerow([row[1], row[2], row[3].format(tag=tag), statuses[row[4]]])
    answer = admin.post("/api/leads/import",
                        files={"file": ("leads.csv", out.getvalue().encode(), "text/csv")})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["ids"])


def run(*args: str, sandbox) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "NO_COLOR": "1", "CRMQA_SANDBOX_URL": sandbox.base_url,
           "CRMQA_SANDBOX_PASSWORD": sandbox.password}
    return subprocess.run([sys.executable, "-m", "crmqa", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def results(reports: Path) -> dict[str, dict]:
    (folder,) = [p for p in reports.iterdir() if p.is_dir()]
    lines = [line for path in (folder / "results").glob("*.jsonl")
             for line in path.read_text().splitlines()]
    return {r["case_id"]: r for r in map(json.loads, lines)}


def test_a_faithful_migration_is_accepted_and_a_damaged_one_fails_the_right_checks(
        sandbox, tmp_path: Path) -> None:
    admin = SandboxClient(sandbox)
    tag = uuid.uuid4().hex[:8]
    plan = write(tmp_path, tag)
    ids = migrate(admin, tag)
    try:
        done = run("run", str(plan), "--reports", str(tmp_path / "ok"), sandbox=sandbox)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        found = results(tmp_path / "ok")
        # the plan declares no required fields: that check is not applicable, and says why
        required = found.pop("MIG-REQUIRED-001")
        assert required["outcome"] == "not_applicable"
        assert "declares no required lead fields" in required["message"]
        assert {r["outcome"] for r in found.values()} == {"passed"}
        assert len(found) >= 8
    finally:
        for lead_id in ids:
            admin.delete(f"/api/leads/{lead_id}")
    # the vendor drops the Chinese name and maps Working to the wrong status
    tag = uuid.uuid4().hex[:8]
    plan = write(tmp_path, tag)
    ids = migrate(admin, tag, drop="A3", status={"Working": "new"})
    try:
        done = run("run", str(plan), "--reports", str(tmp_path / "bad"), sandbox=sandbox)
        assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
        found = results(tmp_path / "bad")
        failed = {case for case, r in found.items() if r["outcome"] == "failed"}
        assert failed == {"MIG-ROWS-001", "MIG-MISSING-001", "MIG-FIELDS-001"}, failed
        fields = found["MIG-FIELDS-001"]
        assert "lead.status: 1 of 3" in fields["message"]
        evidence = [a for s in fields["steps"] for a in s["attachments"]]
        assert any("ivan." in (a.get("text") or "") for a in evidence)
        # the per-field table (with its rate) and the first differing rows, as tables in the
        # summary and in Allure; every differing row in a CSV file of the run folder
        (folder,) = [p for p in (tmp_path / "bad").iterdir() if p.is_dir()]
        summary = (folder / "summary.html").read_text(encoding="utf-8")
        assert "Evidence tables" in summary
        assert '<td>lead.status</td><td>none</td><td>1 of 3 (33.33%)</td><td class="fail">' \
               'FAILED</td>' in summary, summary[summary.find("Evidence tables"):][:3000]
        assert f"ivan.{tag}@migrated.test" in summary
        stored = (folder / "migration" / "fields-lead-status.csv").read_text(encoding="utf-8")
        assert stored.splitlines()[1:] == [f"ivan.{tag}@migrated.test,A2,contacted,new"]
        allure = [path.read_text(encoding="utf-8", errors="replace")
                  for path in (folder / "allure-results").glob("*-attachment.csv")]
        assert any("lead.status,none,1 of 3 (33.33%),FAILED" in text for text in allure)
    finally:
        for lead_id in ids:
            admin.delete(f"/api/leads/{lead_id}")


def test_mapping_mistakes_are_reported_before_the_run(sandbox, tmp_path: Path) -> None:
    plan = write(tmp_path, "x")
    plan.write_text(plan.read_text().replace("{from: LastName}", "{from: LastNme}"))
    done = run("validate", str(plan), sandbox=sandbox)
    assert done.returncode == 3
    assert "the source has no column 'LastNme' (did you mean 'LastName'?)" in done.stderr
    assert "Traceback" not in done.stderr


def test_migrated_records_past_the_profiles_page_bound_are_an_environment_error(
        sandbox, tmp_path: Path) -> None:
    # the migrated leads, two a page, need two pages; a profile that allows one must not
    # compare half of them (and fail the product for the other half as missing)
    admin = SandboxClient(sandbox)
    tag = uuid.uuid4().hex[:8]
    plan = write(tmp_path, tag)
    builtin = (ROOT / "crmqa" / "profiles" / "builtin" / "sandbox.yaml").read_text()
    paged = "pagination: {style: page, page_param: page, size_param: page_size, first_page: 1"
    assert paged in builtin
    (tmp_path / "bounded.yaml").write_text(builtin.replace(paged, paged + ", max_pages: 1"))
    plan.write_text(plan.read_text()
                    .replace("profile: sandbox", "profile: bounded.yaml")
                    .replace('query: "', 'page_size: 2, query: "'))
    ids = migrate(admin, tag)
    try:
        done = run("run", str(plan), "--reports", str(tmp_path / "bounded"), sandbox=sandbox)
        output = done.stdout + done.stderr
        assert done.returncode == 4, output[-4000:]
        assert "lead.search: more than 1 page to read" in output, output[-4000:]
        assert "NO VERDICT (environment problem)" in output
        broken = {case: r for case, r in results(tmp_path / "bounded").items()
                  if r["outcome"] == "broken"}
        assert {"MIG-ROWS-001", "MIG-MISSING-001", "MIG-FIELDS-001"} <= set(broken)
        assert "(entities.lead.list.pagination.max_pages); crmqa stopped there with 2 of 4 " \
               "records read" in broken["MIG-MISSING-001"]["message"]
    finally:
        for lead_id in ids:
            admin.delete(f"/api/leads/{lead_id}")


def test_migrated_records_read_through_the_crms_export(sandbox, tmp_path: Path) -> None:
    # the vendor dropped the Chinese name: read back through the export, it is missing
    admin = SandboxClient(sandbox)
    tag = uuid.uuid4().hex[:8]
    plan = write(tmp_path, tag)
    plan.write_text(plan.read_text().replace("{from: crm, ", "{from: crm, via: export, "))
    ids = migrate(admin, tag, drop="A3")
    try:
        done = run("run", str(plan), "--reports", str(tmp_path / "export"), sandbox=sandbox)
        assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
        found = results(tmp_path / "export")
        failed = {case for case, r in found.items() if r["outcome"] == "failed"}
        assert failed == {"MIG-ROWS-001", "MIG-MISSING-001"}, failed
        assert "1 of 4" in found["MIG-MISSING-001"]["message"]
        assert found["MIG-FIELDS-001"]["outcome"] == "passed"
        # the records came from the export, in one request, not from the list's pages
        requests = [a.get("name", "") for s in found["MIG-ROWS-001"]["steps"]
                    for a in s["attachments"]]
        assert [name for name in requests if name.endswith("-> 200")] == [
            "1. POST /api/auth/token -> 200",
            f"2. GET /api/leads/export?q={tag}%40migrated.test -> 200"], requests
    finally:
        for lead_id in ids:
            admin.delete(f"/api/leads/{lead_id}")
