"""Legacy data in PostgreSQL and MariaDB, read through real servers (tests/migration/servers.py):
streamed in batches, compared like files; a wrong name is a plan problem before the run, a
server that is down or refuses the login an environment problem; no credential is ever shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from crmqa.core.errors import PlanError
from crmqa.migration import databases, tables
from crmqa.migration.checks import run_check
from crmqa.migration.databases import MigrationEnvironmentError
from crmqa.migration.spec import MigrationSpec
from crmqa.migration.step import MigrationCheck
from crmqa.migration.workspace import Workspace
from crmqa.validation.run import prepare_run
from tests.migration.servers import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
# real servers (slow, as every end-to-end group); one worker starts both once, for every test
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("migration-databases")]

COLUMNS = {
    "postgresql": ("legacy_id integer PRIMARY KEY, first_name text, last_name text, email text, "
                   "status text, notes text, created timestamp, amount numeric(10, 2)"),
    "mysql": ("legacy_id integer PRIMARY KEY, first_name text, last_name text, email text, "
              "status text, notes text, created datetime, amount decimal(10, 2)"),
}
MIGRATED_COLUMNS = ("email varchar(200), first_name text, last_name text, status text, "
                    "notes text, created_at {ts}, amount decimal(10, 2)")
LEGACY = [
    (1, "Ann", "Lee", " ANN@x.test ", "Open", "hello", "2024-01-01 10:00:00", "10.50"),
    (2, "Иван", "Петров", "ivan@x.test", "Working", "две\nстроки", "2024-01-02 10:00:00", "3"),
    (3, "王", "伟", "wang@x.test", "Open", 'say "hi" 😀', "2024-01-03 10:00:00", "7.25"),
    (4, "Zoë", "O'Neil", "zoe@x.test", "Closed", "x" * 300, "2024-01-04 10:00:00", "0"),
    (5, "Bob", "Ray", "bob@x.test", "Open", None, "2024-01-05 10:00:00", "1"),
]
STATUS = {"Open": "new", "Working": "contacted", "Closed": "unqualified"}
MAPPING: dict[str, Any] = {
    "email": {"from": "email", "transform": ["trim", "lower"]},
    "first_name": {"from": "first_name"},
    "last_name": {"from": "last_name"},
    "status": {"from": "status", "map": STATUS},
    "notes": {"from": "notes"},
    "created_at": {"from": "created", "compare": "timestamp"},
    "amount": {"from": "amount", "compare": "number"},
}


def migrated(wrong_status_of: int | None = None) -> list[tuple[Any, ...]]:
    """What the vendor's migration made of LEGACY (one status wrong, if asked)."""
    return [(email.strip().lower(), first, last,
             "new" if legacy_id == wrong_status_of else STATUS[status], notes, created, amount)
            for legacy_id, first, last, email, status, notes, created, amount in LEGACY]


def fill(server: Server, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    """A fresh table with these rows, written as the server's admin would."""
    marks = ", ".join(["%s"] * len(rows[0]))
    if server.engine == "postgresql":
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=server.port, user=server.user,
                             password=server.password, dbname=server.database,
                             autocommit=True) as db:
            db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute(f"CREATE TABLE {table} ({columns})")
            db.cursor().executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        return
    import pymysql

    db = pymysql.connect(host="127.0.0.1", port=server.port, user=server.user,
                         password=server.password, database=server.database,
                         charset="utf8mb4", autocommit=True)
    with db.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} ({columns}) CHARACTER SET utf8mb4")
        cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    db.close()


def database(server: Server, prefix: str) -> dict[str, Any]:
    """The plan's `database:` entry: where in the plan, who from the environment."""
    return {"engine": "mariadb" if server.engine == "mysql" else "postgresql",
            "host": "127.0.0.1", "port": server.port, "name": server.database,
            "user_env": f"{prefix}_USER", "password_env": f"{prefix}_PASSWORD"}


@pytest.fixture(params=["postgresql", "mysql"])
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Server:
    """Each engine in turn, with the legacy and migrated tables and its credentials set."""
    found: Server = request.getfixturevalue(
        "postgres_server" if request.param == "postgresql" else "mariadb_server")
    fill(found, "leads", COLUMNS[found.engine], LEGACY)
    ts = "timestamp" if found.engine == "postgresql" else "datetime"
    fill(found, "migrated", MIGRATED_COLUMNS.format(ts=ts), migrated(wrong_status_of=2))
    monkeypatch.setenv("LEGACY_DB_USER", found.user)
    monkeypatch.setenv("LEGACY_DB_PASSWORD", found.password)
    monkeypatch.setenv("VENDOR_DB_URL", found.url)
    return found


def workspace(tmp_path: Path, server: Server, *, source: dict[str, Any] | None = None
              ) -> Workspace:
    spec = MigrationSpec.model_validate({
        "source": {"lead": source or {"database": database(server, "LEGACY_DB"),
                                      "table": "leads", "key": "legacy_id"}},
        "target": {"lead": {"database": {"engine": server.engine, "url_env": "VENDOR_DB_URL"},
                            "sql": "SELECT * FROM migrated WHERE email LIKE '%@x.test'",
                            "key": "email"}},
        "mapping": {"lead": MAPPING},
    })
    return Workspace(spec, tmp_path, tmp_path / "run")


def test_a_database_side_is_streamed_in_batches_and_compared_like_a_file(
        tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # two rows a fetch and a row group: five rows take three round trips, not one list
    monkeypatch.setattr(databases, "BATCH", 2)
    monkeypatch.setattr(tables, "_BATCH", 2)
    space = workspace(tmp_path, server)
    found = {c.name: (c.ok, c.actual)
             for c in run_check(space, MigrationCheck(check="fields", entity="lead")).checks}
    # numbers, times, Cyrillic, Chinese, emoji, quotes and line breaks arrive as they were;
    # the one status the vendor mapped wrongly is the only difference
    assert {name for name, (ok, _) in found.items() if not ok} == {"lead.status"}, found
    assert found["lead.status"] == (False, "1 of 5 (20.00%)")
    for check in ("row_counts", "missing", "unexpected", "text_roundtrip", "truncation"):
        outcome = run_check(space, MigrationCheck(check=check, entity="lead"))
        assert all(c.ok for c in outcome.checks), (check, outcome.checks)
    spooled = pq.ParquetFile(tmp_path / "run" / "migration" / "tmp" / "raw_lead.parquet")
    assert spooled.metadata.num_rows == 5 and spooled.metadata.num_row_groups == 3
    space.close()


def test_whose_fault_a_database_problem_is(tmp_path: Path, server: Server,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    where = database(server, "LEGACY_DB")
    # the plan's mistakes: a table or a column that is not there
    space = workspace(tmp_path, server, source={"database": where, "table": "lead",
                                                "key": "legacy_id"})
    with pytest.raises(tables.MigrationDataError, match=r"did you mean 'leads'\?"):
        space.prepared("lead")
    space = workspace(tmp_path, server, source={
        "database": where, "sql": "SELECT legacy_id, emial FROM leads", "key": "legacy_id"})
    with pytest.raises(tables.MigrationDataError, match="emial"):
        space.prepared("lead")
    # the environment's: a refused login, a server that is not there, an unset variable
    monkeypatch.setenv("LEGACY_DB_PASSWORD", "not-the-password")
    space = workspace(tmp_path, server)
    with pytest.raises(MigrationEnvironmentError, match="cannot connect to") as refused:
        space.prepared("lead")
    assert server.user not in str(refused.value)
    with pytest.raises(MigrationEnvironmentError):  # asked once, remembered
        run_check(space, MigrationCheck(check="missing", entity="lead"))
    space = workspace(tmp_path, server, source={
        "database": {**where, "port": free_port()}, "table": "leads", "key": "legacy_id"})
    with pytest.raises(MigrationEnvironmentError, match="cannot connect to"):
        space.prepared("lead")
    monkeypatch.delenv("LEGACY_DB_PASSWORD")
    space = workspace(tmp_path, server)
    with pytest.raises(MigrationEnvironmentError, match="LEGACY_DB_PASSWORD is not set"):
        space.prepared("lead")


PLAN = """\
id: migration-databases
name: Leads migrated from a legacy PostgreSQL into a vendor's MariaDB
system: {{name: sandbox}}
target: sandbox
targets:
  sandbox: {{profile: sandbox, base_url: "http://127.0.0.1:9"}}
migration:
  source:
    lead:
      database: {source}
      table: {table}
      key: legacy_id
  target:
    lead:
      database: {{engine: mariadb, url_env: VENDOR_DB_URL}}
      sql: SELECT * FROM migrated
      key: email
  mapping:
    lead: {mapping}
  quality:
    lead: {{email: [email], duplicates: [[first_name, last_name]]}}
include:
  - {suites}/migration/reconciliation.yaml
"""


def plan(folder: Path, postgres: Server, *, table: str = "leads", column: str = "email"
         ) -> Path:
    mapping = {**MAPPING, "email": {**MAPPING["email"], "from": column}}
    path = folder / "plan.yaml"
    path.write_text(PLAN.format(source=json.dumps(database(postgres, "LEGACY_PG")),
                                table=table, mapping=json.dumps(mapping, ensure_ascii=False),
                                suites=ROOT / "suites"), encoding="utf-8")
    return path


def test_a_migration_between_two_databases_through_crmqa_run(
        tmp_path: Path, postgres_server: Server, mariadb_server: Server,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fill(postgres_server, "leads", COLUMNS["postgresql"], LEGACY)
    fill(mariadb_server, "migrated", MIGRATED_COLUMNS.format(ts="datetime"), migrated())
    secrets = {"LEGACY_PG_USER": postgres_server.user,
               "LEGACY_PG_PASSWORD": postgres_server.password,
               "VENDOR_DB_URL": mariadb_server.url}
    environment = {**os.environ, **secrets, "NO_COLOR": "1"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)

    # before the run: a wrong table or column in the plan is a plan problem at the steps
    # that need it (file:line:col)
    for mistake, expected in (({"table": "lead"}, "did you mean 'leads'?"),
                              ({"column": "e_mail"}, "no column 'e_mail'")):
        with pytest.raises(PlanError) as problem:
            prepare_run(plan(tmp_path, postgres_server, **mistake))
        assert expected in str(problem.value)
        assert re.search(r"reconciliation\.yaml:\d+:\d+: migration\.(source|mapping)\.lead",
                         str(problem.value))
    prepare_run(plan(tmp_path, postgres_server))
    # a server that cannot be asked is not the plan's fault: validation leaves it to the run
    monkeypatch.setenv("LEGACY_PG_PASSWORD", "wrong-password")
    prepare_run(plan(tmp_path, postgres_server, table="lead"))
    plan(tmp_path, postgres_server)

    def run(reports: str, **changed: str) -> tuple[subprocess.CompletedProcess[str], dict]:
        done = subprocess.run(
            [sys.executable, "-m", "crmqa", "run", str(tmp_path / "plan.yaml"), "--reports",
             str(tmp_path / reports)], cwd=ROOT, env={**environment, **changed},
            capture_output=True, text=True, timeout=300)
        (folder,) = [p for p in (tmp_path / reports).iterdir() if p.is_dir()]
        lines = [json.loads(line) for path in (folder / "results").glob("*.jsonl")
                 for line in path.read_text().splitlines()]
        for path in (tmp_path / reports).rglob("*"):  # no credential in any evidence or log
            if path.is_file() and path.suffix != ".parquet":
                text = path.read_text(errors="replace")
                assert postgres_server.password not in text and mariadb_server.url not in text
        for stream in (done.stdout, done.stderr):
            assert postgres_server.password not in stream
            assert "Traceback" not in stream
        return done, {line["case_id"]: line for line in lines}

    done, found = run("ok")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert found.pop("MIG-REQUIRED-001")["outcome"] == "not_applicable"
    assert {case: r["outcome"] for case, r in found.items()} == {
        case: "passed" for case in found}
    # the legacy database refuses the login: no product verdict on its cases, and why
    done, found = run("refused", LEGACY_PG_PASSWORD="wrong-password")
    assert done.returncode not in (0, 1), done.stdout[-3000:]
    broken = {case for case, r in found.items() if r["outcome"] == "broken"}
    assert "MIG-FIELDS-001" in broken and "MIG-ROWS-001" in broken
    assert "cannot connect to postgresql 127.0.0.1" in found["MIG-FIELDS-001"]["message"]
    assert "wrong-password" not in json.dumps(found)
