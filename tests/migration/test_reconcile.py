"""Reconciliation checks through real DuckDB on real files: each check sees what it should."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

from crmqa.migration.checks import run_check
from crmqa.migration.mapping import ends_trimmed, trimmed
from crmqa.migration.spec import FieldMapping, MigrationSpec
from crmqa.migration.step import MigrationCheck
from crmqa.migration.tables import MigrationDataError, relation
from crmqa.migration.workspace import Workspace

LEGACY = [
    ["LegacyId", "FirstName", "LastName", "Email", "Status", "Notes", "Created", "Amount"],
    ["1", "Ann", "Lee", " ANN@x.test ", "Open", "hello", "2024-01-01 10:00:00", "10.50"],
    ["2", "Иван", "Петров", "ivan@x.test", "Working", "две\nстроки", "2024-01-02 10:00:00",
     "3"],
    ["3", "王", "伟", "wang@x.test", "Open", 'say "hi"', "2024-01-03 10:00:00", "7"],
    ["4", "Bob", "Ray", "bob@x.test", "Closed", "x" * 300, "2024-01-04 10:00:00", "1.25"],
    ["5", "Zoë", "Noël", "not-an-email", "Open", "", "2024-01-05 10:00:00", "0"],
]
# what a faithful migration makes of LEGACY (the expected side)
MIGRATED = [
    ["email", "first_name", "last_name", "status", "notes", "created_at", "amount"],
    ["ann@x.test", "Ann", "Lee", "new", "hello", "2024-01-01T10:00:00", "10.5"],
    ["ivan@x.test", "Иван", "Петров", "contacted", "две\nстроки", "2024-01-02T10:00:00", "3"],
    ["wang@x.test", "王", "伟", "new", 'say "hi"', "2024-01-03T10:00:00", "7"],
    ["bob@x.test", "Bob", "Ray", "unqualified", "x" * 300, "2024-01-04T10:00:00", "1.25"],
    ["not-an-email", "Zoë", "Noël", "new", "", "2024-01-05T10:00:00", "0"],
]

MAPPING = {
    "email": {"from": "Email", "transform": ["trim", "lower"]},
    "first_name": {"from": "FirstName"},
    "last_name": {"from": "LastName"},
    "status": {"from": "Status", "map": {"Open": "new", "Working": "contacted",
                                         "Closed": "unqualified"}},
    "notes": {"from": "Notes"},
    "created_at": {"from": "Created", "transform": [{"timestamp": "%Y-%m-%d %H:%M:%S"}],
                   "compare": "timestamp"},
    "amount": {"from": "Amount", "compare": "number"},
}


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def workspace(tmp_path: Path, migrated: list[list[str]], source: dict | None = None,
              progress: Callable[[str], None] | None = None, **extra) -> Workspace:
    write_csv(tmp_path / "legacy.csv", LEGACY)
    write_csv(tmp_path / "migrated.csv", migrated)
    spec = MigrationSpec.model_validate({
        "source": {"lead": source or {"file": "legacy.csv", "key": "LegacyId"}},
        "target": {"lead": {"file": "migrated.csv", "key": "email"}},
        "mapping": {"lead": MAPPING},
        "quality": {"lead": {"email": ["Email"], "duplicates": [["FirstName", "LastName"]]}},
        **extra,
    })
    return Workspace(spec, tmp_path, tmp_path / "run", progress=progress)


def check(space: Workspace, name: str, **kwargs) -> dict[str, tuple[bool, object]]:
    outcome = run_check(space, MigrationCheck(check=name, entity="lead", **kwargs))
    return {c.name: (c.ok, c.actual) for c in outcome.checks}


def changed(rows: list[list[str]], row: int, column: str, value: str) -> list[list[str]]:
    copy = [list(r) for r in rows]
    copy[row][copy[0].index(column)] = value
    return copy


def test_a_faithful_migration_passes_every_check(tmp_path: Path) -> None:
    space = workspace(tmp_path, MIGRATED)
    for name in ("row_counts", "missing", "unexpected", "fields", "text_roundtrip",
                 "truncation", "precision", "duplicates"):
        results = check(space, name)
        assert all(ok for ok, _ in results.values()), (name, results)
    assert check(space, "required", fields=["email", "last_name"]) == {
        "lead.email filled": (True, "0 of 5 (0.00%)"),
        "lead.last_name filled": (True, "0 of 5 (0.00%)")}


def test_each_kind_of_damage_is_caught_by_its_check(tmp_path: Path) -> None:
    bob = changed(changed(MIGRATED, 4, "notes", "x" * 255), 4, "status", "new")[4]
    damaged = [MIGRATED[0],
               changed(MIGRATED, 1, "created_at", "2024-01-01T13:00:00")[1],  # time zone
               changed(MIGRATED, 2, "notes", "две строки")[2],  # a line break lost
               bob,  # notes cut at 255, a picklist value mapped wrongly
               MIGRATED[5],
               ["extra@x.test", "X", "Y", "new", "", "2024-01-06T10:00:00", "1"]]
    # wang@x.test (non-Latin name) is dropped; extra@x.test was never in the source
    space = workspace(tmp_path, damaged)
    assert check(space, "row_counts") == {"lead rows": (True, 5)}  # the counts hide it...
    assert check(space, "missing")["lead missing records"] == (False, "1 of 5 (20.00%)")
    assert check(space, "unexpected")["lead unexpected records"][0] is False
    fields = check(space, "fields")
    assert {name for name, (ok, _) in fields.items() if not ok} == {
        "lead.created_at", "lead.notes", "lead.status"}
    assert check(space, "text_roundtrip")["lead.notes"][0] is False
    assert check(space, "truncation")["lead.notes"] == (False, "1 of 4 (25.00%)")
    assert check(space, "precision")["lead.created_at"][0] is False
    # every differing row is kept, with the legacy key, in the run folder
    rows = (tmp_path / "run" / "migration" / "fields-lead-status.csv").read_text().splitlines()
    assert rows == ["key,legacy_key,expected,migrated", "bob@x.test,4,unqualified,new"]


def test_a_rate_can_be_allowed(tmp_path: Path) -> None:
    damaged = [*MIGRATED[:4], changed(MIGRATED, 4, "status", "new")[4], MIGRATED[5]]
    space = workspace(tmp_path, damaged)
    assert check(space, "fields", fields=["status"], max_rate=0.25) == {
        "lead.status": (True, "1 of 5 (20.00%)")}
    assert check(space, "fields", fields=["status"])["lead.status"][0] is False


def test_duplicates_on_both_sides(tmp_path: Path) -> None:
    space = workspace(tmp_path, [*MIGRATED, MIGRATED[1]])
    assert check(space, "duplicates") == {
        "lead migrated duplicates": (False, "1 of 6 (16.67%)"),
        "lead source duplicates": (True, "0 of 5 (0.00%)")}
    # the legacy record joined twice is still one legacy record (its hash repeats: counted
    # exactly from the source), the copy one more migrated record
    assert check(space, "row_counts") == {"lead rows": (False, 6)}
    assert space.prepared("lead").source_rows == 5


def test_the_comparison_reads_each_file_once_and_keeps_only_what_it_reports(
        tmp_path: Path) -> None:
    damaged = [*MIGRATED[:3], changed(MIGRATED, 3, "status", "contacted")[3], MIGRATED[4],
               ["extra@x.test", "X", "Y", "new", "", "2024-01-06T10:00:00", "1"]]
    space = workspace(tmp_path, damaged)  # not-an-email dropped, wang's status changed
    prepared = space.prepared("lead")
    assert (prepared.source_rows, prepared.target_rows, prepared.matched) == (5, 5, 4)
    # the CSV views read with the dialect sniffed once, not sniffed again by every query
    views = dict(space.sql("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal"))
    assert "auto_detect=false" in views["raw_lead"].replace(" ", "")
    assert "auto_detect=false" in views["tgtraw_lead"].replace(" ", "")
    # a row per joined record, but keys and values only for the three it reports
    kept = space.sql('SELECT __key, __source_key, s_status, t_status FROM joined_lead '
                     'WHERE __key IS NOT NULL ORDER BY __key')
    assert kept == [("extra@x.test", None, None, "new"), ("not-an-email", "5", "new", None),
                    ("wang@x.test", "3", "new", "contacted")]
    assert space.sql("SELECT count(*), count(__source_hash) FROM joined_lead") == [(6, 5)]
    # the table under it: a hash per record, the list only for the reported
    assert space.sql("SELECT count(*), count(__kept) FROM joinrows_lead") == [(6, 3)]
    assert [row[0] for row in space.sql("DESCRIBE joinrows_lead")] == [
        "__source_hash", "__kept"]
    # the checks' counts were taken once, with the entity
    assert (prepared.missing, prepared.unexpected) == (1, 1)
    assert prepared.differing == {name: int(name == "status") for name in prepared.fields}


def test_keys_match_whatever_spaces_surround_them(tmp_path: Path) -> None:
    padded = [list(row) for row in MIGRATED]
    padded[1][0] = " ann@x.test\u3000"  # an ideographic space, as trim() strips it
    padded[4][0] = "bob@x.test  "
    space = workspace(tmp_path, padded)
    assert check(space, "missing")["lead missing records"] == (True, "0 of 5 (0.00%)")
    assert check(space, "unexpected")["lead unexpected records"][0] is True
    # the key matched; the e-mail itself is compared as migrated
    assert check(space, "fields", fields=["email"])["lead.email"] == (False, "2 of 5 (40.00%)")


@pytest.mark.parametrize("text", [
    None, "", " ", "ab", " a b ", "a\t", "\ta", "\u00a0x\u3000", "王 ", "王", "Zoë", "x\u2009",
    "\u3000x", "x ", "!x ", "\x01 a"])
def test_trimmed_is_trim_without_its_copy(text: str | None) -> None:
    con = duckdb.connect()
    assert con.execute(f"SELECT {trimmed('$1')} IS NOT DISTINCT FROM trim($1)",
                       [text]).fetchone() == (True,)


@pytest.mark.parametrize(("mapping", "already"), [
    ({"transform": ["trim", "lower"]}, True),
    ({"transform": ["lower", "digits"]}, True),
    ({"transform": ["lower"]}, False),
    ({"transform": ["trim", {"truncate": 5}]}, False),  # "ab cd ef" -> "ab cd" is, "abcd " not
    ({"transform": ["trim"], "map": {"a": " b "}}, False),
    ({"transform": ["trim"], "default": " none "}, False),
])
def test_a_key_is_trimmed_again_unless_its_mapping_trims_it_last(mapping: dict,
                                                                 already: bool) -> None:
    assert ends_trimmed(FieldMapping.model_validate({"from": "x", **mapping})) is already


def test_the_data_quality_report_is_a_report_unless_a_rate_is_set(tmp_path: Path) -> None:
    space = workspace(tmp_path, MIGRATED)
    report = check(space, "source_quality")
    assert report["Email e-mail"] == (True, "1 of 5 (20.00%)")  # counted, not failed
    assert check(space, "source_quality", max_rate=0)["Email e-mail"][0] is False


@pytest.mark.parametrize("kind", ["xlsx", "sqlite", "parquet", "tsv"])
def test_sources_in_other_formats(tmp_path: Path, kind: str) -> None:
    if kind == "xlsx":
        book = Workbook()
        for row in LEGACY:
            book.active.append(row)
        book.save(tmp_path / "legacy.xlsx")
        source = {"file": "legacy.xlsx", "key": "LegacyId"}
    elif kind == "sqlite":
        with sqlite3.connect(tmp_path / "legacy.db") as db:
            db.execute(f"CREATE TABLE leads ({', '.join(LEGACY[0])})")
            db.executemany(f"INSERT INTO leads VALUES ({', '.join('?' * len(LEGACY[0]))})",
                           LEGACY[1:])
        source = {"file": "legacy.db", "table": "leads", "key": "LegacyId"}
    elif kind == "parquet":
        import duckdb

        write_csv(tmp_path / "tmp.csv", LEGACY)
        duckdb.sql(f"COPY (SELECT * FROM read_csv('{tmp_path / 'tmp.csv'}', all_varchar=true))"
                   f" TO '{tmp_path / 'legacy.parquet'}'")
        source = {"file": "legacy.parquet", "key": "LegacyId"}
    else:
        with (tmp_path / "legacy.tsv").open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, delimiter="\t").writerows(LEGACY)
        source = {"file": "legacy.tsv", "key": "LegacyId"}
    space = workspace(tmp_path, MIGRATED, source=source)
    assert all(ok for ok, _ in check(space, "fields").values())


def test_set_up_mistakes_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes("LegacyId,FirstName\n1,Zo\xeb\n".encode("latin-1"))
    space = workspace(tmp_path, MIGRATED, source={"file": "latin.csv", "key": "LegacyId"})
    with pytest.raises(MigrationDataError, match=r"latin\.csv is not valid utf-8 text"):
        check(space, "fields")
    space = workspace(tmp_path, MIGRATED, source={"file": "legacy.csv", "key": "LegacyID"})
    with pytest.raises(MigrationDataError, match=r"the source has no column 'LegacyID'"):
        check(space, "fields")
    space = workspace(tmp_path, MIGRATED, source={"file": "nope.csv", "key": "LegacyId"})
    with pytest.raises(MigrationDataError, match=r"data file 'nope\.csv' not found"):
        check(space, "fields")
    # the two extracts open side by side; a broken target is named, and when both are
    # broken, the source is, as when they open in turn
    (tmp_path / "migrated.csv").write_bytes("email,first_name\nx@y,Zo\xeb\n".encode("latin-1"))
    space.spec.source["lead"].file = "legacy.csv"
    space = Workspace(space.spec, tmp_path, tmp_path / "run3")
    with pytest.raises(MigrationDataError, match=r"migrated\.csv is not valid utf-8 text"):
        check(space, "fields")
    space.spec.source["lead"].file = "latin.csv"
    space = Workspace(space.spec, tmp_path, tmp_path / "run4")
    with pytest.raises(MigrationDataError, match=r"latin\.csv is not valid utf-8 text"):
        check(space, "fields")


def test_a_csv_is_read_as_sniffed_whatever_its_name_encoding_and_dialect(
        tmp_path: Path) -> None:
    con = duckdb.connect()
    named = tmp_path / "o'neil ü.csv"  # a quote in the name: the read call must escape it
    named.write_bytes("Id;Name\r\n1;\"Zoë; Noël\"\r\n".encode("latin-1"))
    assert relation(con, "v", named, "csv", spool_dir=tmp_path, encoding="latin-1") == [
        "Id", "Name"]
    assert con.sql("SELECT * FROM v").fetchall() == [("1", "Zoë; Noël")]


def test_a_value_quoted_past_the_sniffers_sample_is_read_as_one_value(tmp_path: Path) -> None:
    # the sniffer reads the first 20,480 rows: none of them quoted, a later one is (RFC 4180)
    lines = ["Id,Name,Notes", *(f"{i},n{i},plain" for i in range(25_000)),
             '25000,"Smith, John","said ""hi"""', '25001,say "hi" there,x']
    late = tmp_path / "late.csv"
    late.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = duckdb.connect()
    relation(con, "v", late, "csv", spool_dir=tmp_path)
    assert con.sql("SELECT * FROM v WHERE Id IN ('25000', '25001') ORDER BY Id").fetchall() == [
        ("25000", "Smith, John", 'said "hi"'), ("25001", 'say "hi" there', "x")]


def test_a_record_whose_key_is_empty_is_missing_or_unexpected_and_still_counted(
        tmp_path: Path) -> None:
    # Ann's e-mail (the join key) was lost in the migration; a migrated record came with none
    damaged = [MIGRATED[0], changed(MIGRATED, 1, "email", "")[1], *MIGRATED[2:],
               ["", "X", "Y", "new", "", "2024-01-06T10:00:00", "1"]]
    space = workspace(tmp_path, damaged)
    prepared = space.prepared("lead")
    assert (prepared.source_rows, prepared.target_rows, prepared.matched) == (5, 6, 4)
    assert check(space, "missing")["lead missing records"] == (False, "1 of 5 (20.00%)")
    assert check(space, "unexpected")["lead unexpected records"] == (False, "2 of 6 (33.33%)")
    assert check(space, "row_counts") == {"lead rows": (False, 6)}
    # a legacy record whose mapped key is empty matches nothing either: it is missing
    legacy_keyless = changed(LEGACY, 1, "Email", "  ")
    write_csv(tmp_path / "legacy.csv", legacy_keyless)
    space = Workspace(space.spec, tmp_path, tmp_path / "run2")
    write_csv(tmp_path / "migrated.csv", MIGRATED)
    prepared = space.prepared("lead")
    assert (prepared.source_rows, prepared.target_rows, prepared.matched) == (5, 5, 4)
    assert check(space, "missing")["lead missing records"] == (False, "1 of 5 (20.00%)")


def test_a_long_check_says_what_it_is_doing_and_duckdb_prints_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture) -> None:
    from crmqa.migration import progress

    monkeypatch.setattr(progress, "FIRST_AFTER_S", 0.0)
    monkeypatch.setattr(progress, "EVERY_S", 0.001)
    # every statement "long" for DuckDB's own bar, which must still print nothing
    lines: list[str] = []
    space = workspace(tmp_path, MIGRATED, progress=lines.append)
    # DuckDB measures how far a statement is (for the lines), and prints no bar of its own
    assert space.sql("SELECT current_setting('enable_progress_bar'), "
                     "current_setting('enable_progress_bar_print')") == [(True, False)]
    space.con.execute("SET progress_bar_time = 0")
    assert check(space, "fields")["lead.notes"] == (True, "0 of 5 (0.00%)")
    space.close()
    assert lines and all(line.startswith("migration fields lead") for line in lines)
    assert all(line.endswith(" s)") for line in lines)
    assert "%" not in capfd.readouterr().out


def test_progress_names_the_phase_and_how_far_the_statement_is() -> None:
    from crmqa.migration.progress import Progress

    class Halfway:  # DuckDB's answer while a statement runs, and between statements
        answer = 42.4

        def query_progress(self) -> float:
            return self.answer

    connection = Halfway()
    lines: list[str] = []
    watched = Progress(connection, lines.append, first_after_s=0.0, every_s=60.0)
    with watched.watching("fields lead"):
        watched.phase("joining the legacy and migrated lead records")
        assert watched.line(12.3) == ("migration fields lead: joining the legacy and migrated "
                                      "lead records, 42% of this step (12 s)")
        connection.answer = -1.0
        assert watched.line(13.0) == ("migration fields lead: joining the legacy and "
                                      "migrated lead records (13 s)")
    quiet = Progress(connection, lines.append)  # quick work says nothing
    lines.clear()
    with quiet.watching("fields lead"):
        pass
    assert lines == []


def test_crm_reading_options_on_an_extract_are_a_plan_error() -> None:
    from pydantic import ValidationError

    from crmqa.migration.spec import TargetTable

    with pytest.raises(ValidationError, match="query, page_size: only for a target read "
                                              "`from: crm`"):
        TargetTable.model_validate({"file": "migrated.csv", "key": "email", "query": "x",
                                    "page_size": 500})
    with pytest.raises(ValidationError, match="via: only for a target read `from: crm`"):
        TargetTable.model_validate({"file": "migrated.csv", "key": "email", "via": "export"})
    with pytest.raises(ValidationError, match="page_size: an export comes in one answer"):
        TargetTable.model_validate({"from": "crm", "key": "email", "via": "export",
                                    "page_size": 500})
    crm = TargetTable.model_validate({"from": "crm", "key": "email", "page_size": 500})
    assert (crm.via, crm.page_size) == ("list", 500)
