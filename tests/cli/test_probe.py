"""`crmqa probe` on the real sandbox: every operation of its profile works; a profile broken
three ways is named operation by operation with the key to fix; read-only targets, Ctrl-C,
bad plans and unreachable targets end as they should, and no throw-away record stays."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import requests

from crmqa.drivers.api.driver import ApiDriver
from crmqa.drivers.api.probe import WORKS, Prober, ProbeRow
from crmqa.drivers.registry import DriverEnvironment
from crmqa.plan.loader import load_plan
from crmqa.profiles.target import resolve_target

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_PROFILE = ROOT / "crmqa" / "profiles" / "builtin" / "sandbox.yaml"

pytestmark = [pytest.mark.slow]

PLAN = """
id: probe-{name}
name: Probe {name}
system: {{name: sandbox}}
target: sandbox
targets:
  sandbox:
    profile: {profile}
    base_url: "{{{{ env.CRMQA_SANDBOX_URL }}}}"
    destructive_ok: {destructive}
    identities:
      admin: {{default_username: admin, password_env: CRMQA_SANDBOX_PASSWORD}}
      sales: {{default_username: sales, password_env: CRMQA_SANDBOX_PASSWORD}}
      viewer: {{default_username: viewer, password_env: CRMQA_SANDBOX_PASSWORD}}
      anonymous: {{}}
include:
  - {suites}/leads/functional.yaml
  - {suites}/security/baseline.yaml
"""


def _plan(tmp_path: Path, profile: str = "sandbox", destructive: bool = True,
          name: str = "plan") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(PLAN.format(name=name, profile=profile, destructive=str(destructive).lower(),
                                suites=ROOT / "suites"), encoding="utf-8")
    return path


def _probe(plan: Path, sandbox: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRMQA_SANDBOX_URL": sandbox.base_url,
           "CRMQA_SANDBOX_PASSWORD": sandbox.password, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "crmqa", "probe", str(plan), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _rows(output: str) -> dict[str, str]:
    """operation -> result, read from the table."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)]
        if len(cells) >= 2 and re.fullmatch(r"[a-z]+\.[a-z]+|login as \w+|health check",
                                            cells[0]):
            rows[cells[0]] = cells[1]
    return rows


def _probe_records_left(admin_api: requests.Session, sandbox: Any) -> list[str]:
    left = []
    for plural in ("leads", "contacts", "accounts", "opportunities", "cases", "users"):
        answer = admin_api.get(f"{sandbox.base_url}/api/{plural}",
                               params={"q": "crmqa", "page_size": 100}, timeout=5).json()
        left += [f"{plural} {item['id']}" for item in answer["items"]
                 if "crmqa" in str(item).lower() and "probe" in str(item).lower()]
    return left


def test_every_operation_of_the_sandbox_profile_works(sandbox, admin_api, tmp_path):
    done = _probe(_plan(tmp_path), sandbox)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _rows(done.stdout)
    from crmqa.profiles.loader import load_profile

    profile = load_profile(SANDBOX_PROFILE)
    declared = {f"{entity}.{op}" for entity, spec in profile.entities.items()
                for op in spec.operations}
    assert declared <= set(rows), sorted(declared - set(rows))
    assert {op: rows[op] for op in declared if rows[op] != WORKS} == {}
    assert {"login as admin", "login as sales", "login as viewer", "health check"} <= set(rows)
    assert all(rows[name] == WORKS for name in rows if name.startswith("login"))
    assert "is fit to run the plan" in done.stdout
    assert _probe_records_left(admin_api, sandbox) == []


def _line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_broken_profile_is_named_operation_by_operation(sandbox, admin_api, tmp_path):
    text = SANDBOX_PROFILE.read_text(encoding="utf-8")
    text = text.replace("name: sandbox\n", "name: broken\n", 1)
    text = text.replace("    list:\n      items_path: items\n",
                        "    list:\n      path: /api/leadz\n      items_path: items\n", 1)
    text = text.replace("  contact:\n    collection: /api/contacts\n",
                        "  contact:\n    collection: /api/contacts\n    record_path: data\n")
    text = text.replace("  account:\n    collection: /api/accounts\n",
                        "  account:\n    collection: /api/accounts\n"
                        "    fields: {name: title}\n")
    (tmp_path / "broken.yaml").write_text(text, encoding="utf-8")
    done = _probe(_plan(tmp_path, "broken.yaml"), sandbox)
    out = done.stdout
    assert done.returncode == 4, out + done.stderr
    rows = _rows(out)
    assert rows["lead.list"] == "refused" and rows["lead.search"] == "refused"
    assert rows["contact.get"] == "unexpected shape"
    assert rows["account.create"] == "refused"
    assert rows["lead.create"] == rows["lead.get"] == rows["opportunity.create"] == WORKS
    path_line = _line_of(text, "path: /api/leadz")
    record_line = _line_of(text, "record_path: data")
    field_line = _line_of(text, "fields: {name: title}")
    assert "fix: entities.lead.list.path (" in out and f"broken.yaml:{path_line})" in out
    assert f"fix: entities.contact.record_path ({tmp_path / 'broken.yaml'}:{record_line})" in out
    assert f"fix: entities.account.fields.name ({tmp_path / 'broken.yaml'}:{field_line})" in out
    assert "the answer holds no record at data" in out
    assert "GET /api/leadz?page_size=5 -> 404" in out  # the evidence
    assert "Authorization: [redacted]" in out and sandbox.password not in out
    assert "not fit to run the plan" in out and "lead.list, lead.search" in out
    # The contact made while its id could not be read was found again and removed.
    assert _probe_records_left(admin_api, sandbox) == []


def test_a_read_only_target_is_probed_by_reading(sandbox, admin_api, tmp_path):
    done = _probe(_plan(tmp_path, destructive=False), sandbox)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "destructive_ok: false, so the probe creates no throw-away record" in done.stdout
    rows = _rows(done.stdout)
    assert rows["lead.create"] == rows["lead.delete"] == "not probed"
    assert rows["lead.list"] == rows["lead.get"] == rows["lead.search"] == WORKS


def test_interrupted_probe_still_removes_its_records(sandbox, admin_api, tmp_path):
    loaded = load_plan(_plan(tmp_path))
    env = {"CRMQA_SANDBOX_URL": sandbox.base_url, "CRMQA_SANDBOX_PASSWORD": sandbox.password}
    target = resolve_target("sandbox", loaded.plan.targets["sandbox"], loaded.base_dir, env=env)
    driver = ApiDriver(DriverEnvironment(target=target, worker_id="p",
                                         run_dir=Path(tempfile.mkdtemp()),
                                         base_dir=loaded.base_dir, evidence="on"))

    def stop_after_update(row: ProbeRow) -> None:
        if row.subject == "lead.update":
            raise KeyboardInterrupt

    prober = Prober(driver, on_row=stop_after_update)
    with pytest.raises(KeyboardInterrupt):
        prober.run()
    driver.close()
    assert prober.report.interrupted and not prober.report.fit
    made = [made for made in prober.made if made.entity == "lead"]
    assert made and all(m.deleted for m in made)
    assert admin_api.get(f"{sandbox.base_url}/api/leads/{made[0].record_id}",
                         timeout=5).status_code == 404


def test_a_bad_plan_is_exit_3_and_an_unreachable_target_exit_4(sandbox, tmp_path):
    plan = _plan(tmp_path)
    done = _probe(plan, sandbox, "--target", "nowhere")
    assert done.returncode == 3 and "the plan has no target 'nowhere'" in done.stderr

    class Closed:
        base_url = "http://127.0.0.1:9"
        password = sandbox.password

    done = _probe(plan, Closed())
    assert done.returncode == 4, done.stdout + done.stderr
    assert "cannot be probed" in done.stdout and "cannot connect" in done.stdout
