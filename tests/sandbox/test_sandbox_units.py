"""Fast checks without a server: the CLI entry, the fault registry, validation, hashing,
CSV neutralisation, and the start-up error of `running_sandbox`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crmqa.sandbox.__main__ import main
from crmqa.sandbox.entities import LEAD, validate
from crmqa.sandbox.faults import CATALOGUE, FaultSet, UnknownFault, parse_fault_list
from crmqa.sandbox.security import hash_password, verify_password
from crmqa.sandbox.services import neutralise_formula, unneutralise
from crmqa.sandbox.testing import SandboxStartError, running_sandbox


def test_list_faults_prints_every_fault_with_category(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert main(["--list-faults"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(CATALOGUE)
    for fault, line in zip(CATALOGUE, lines, strict=True):
        assert line.split()[:2] == [fault.name, fault.category]
        assert line.endswith(fault.description)


def test_unknown_fault_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--faults", "search_case_sensitive,serch_ignores_page"]) == 3
    err = capsys.readouterr().err
    assert "unknown fault(s): serch_ignores_page" in err and "--list-faults" in err
    assert "Traceback" not in err


def test_bad_port_and_missing_db_folder_are_clear_errors(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "70000"]) == 3
    assert main(["--db", "/no/such/folder/crm.sqlite"]) == 3
    err = capsys.readouterr().err
    assert "--port must be between" in err and "does not exist" in err


def test_module_entry_point_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "crmqa.sandbox", "--list-faults"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert "sql_injection_search" in done.stdout


def test_fault_set_lookup() -> None:
    faults = FaultSet(["idor_leads"])
    assert faults.active("idor_leads") and not faults.active("no_lockout")
    with pytest.raises(KeyError):
        faults.active("idor_lead")  # a typo in the sandbox itself must fail loudly
    assert parse_fault_list(" , ") == ()
    assert parse_fault_list("no_lockout, idor_leads,no_lockout") == ("no_lockout", "idor_leads")
    with pytest.raises(UnknownFault):
        parse_fault_list(["nope"])


def test_running_sandbox_rejects_unknown_fault_before_starting() -> None:
    with pytest.raises(ValueError, match="unknown fault"), running_sandbox(faults=["nope"]):
        pass


def test_running_sandbox_reports_server_stderr() -> None:
    with pytest.raises(SandboxStartError) as failure, running_sandbox(
            db_path=Path("/no/such/folder/x.sqlite"), start_timeout=20):
        pass
    assert "exited with code 3" in str(failure.value)
    assert "does not exist" in str(failure.value)


def test_password_hashes_are_salted_and_verify() -> None:
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first != second and first.startswith("scrypt$") and "s3cret" not in first
    assert verify_password("s3cret-pass", first)
    assert not verify_password("s3cret-pasS", first)
    assert not verify_password("s3cret-pass", "garbage")


@pytest.mark.parametrize(
    ("cell", "exported"),
    [("=1+2", "'=1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("-2+3", "'-2+3"), ("+cmd|' /C calc'!A0",
     "'+cmd|' /C calc'!A0"), ("\t=x", "'\t=x"), ("+44 20 7946 0000", "+44 20 7946 0000"),
     ("plain", "plain"), ("", "")],
)
def test_formula_neutralisation_round_trips(cell: str, exported: str) -> None:
    assert neutralise_formula(cell) == exported
    assert unneutralise(neutralise_formula(cell)) == cell


def test_validation_collects_every_error_at_once() -> None:
    _, errors = validate(LEAD, {"first_name": "", "email": "x", "phone": "1",
                                "status": "won", "extra": 1}, partial=False)
    assert set(errors) == {"first_name", "last_name", "email", "phone", "status", "extra"}
    ok, none = validate(LEAD, {"first_name": " Ann ", "last_name": "Lee",
                               "email": "ann@example.com"}, partial=False)
    assert none == {} and ok["first_name"] == "Ann" and ok["status"] == "new"


@pytest.mark.slow
def test_latency_holds_every_answer_back_and_requests_wait_together() -> None:
    """`--latency-ms` stands for a distant CRM: each answer is late, concurrent ones overlap."""
    import time
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    def health(url: str) -> float:
        start = time.perf_counter()
        with urllib.request.urlopen(f"{url}/api/health", timeout=10) as answer:
            assert answer.status == 200
        return time.perf_counter() - start

    with running_sandbox(latency_ms=400) as sandbox:
        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            each = list(pool.map(health, [sandbox.base_url] * 4))
        together = time.perf_counter() - start
    assert min(each) >= 0.4
    assert together < 1.4  # one after the other they would take 1.6 s at least
