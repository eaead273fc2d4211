"""Reading data files into DuckDB: CSV, TSV, Parquet and JSON natively; XLSX and SQLite
through Python's own readers into Arrow, in batches (DuckDB's own extensions for them are
downloaded at run time, which this machine and many enterprise networks do not allow).

Every value is read as text: the mapping decides what a value means, and the comparison how
it is compared. A file that cannot be read (missing, wrong encoding, no such sheet or table,
a missing column) raises `MigrationDataError` with the file and what to do.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from crmqa.core.errors import CrmqaError

_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet",
             ".xlsx": "xlsx", ".xlsm": "xlsx", ".sqlite": "sqlite", ".db": "sqlite",
             ".sqlite3": "sqlite", ".json": "json", ".jsonl": "json", ".ndjson": "json"}
_BATCH = 50_000


class MigrationDataError(CrmqaError):
    """A source or target file cannot be read as the plan says (a set-up problem)."""


def file_format(path: Path, given: str | None) -> str:
    """The format of a data file: as given, else from its suffix."""
    if given:
        return given
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise MigrationDataError(
            f"{path.name}: cannot tell the format from the suffix '{path.suffix}': give "
            f"`format:` ({', '.join(sorted(set(_SUFFIXES.values())))})")
    return found


def quote(name: str) -> str:
    """A SQL identifier, quoted (column names come from the customer's files)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def relation(con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: str, *,
             table: str | None = None, encoding: str = "utf-8",
             delimiter: str | None = None) -> list[str]:
    """Make `name` a view over the file (all columns text); return its column names."""
    if not path.is_file():
        raise MigrationDataError(f"data file {path} does not exist")
    try:
        if fmt in ("csv", "tsv"):
            options = ["header = true", "all_varchar = true", f"encoding = {literal(encoding)}"]
            separator = "\t" if fmt == "tsv" else delimiter
            if separator:
                options.append(f"delim = {literal(separator)}")
            source = f"read_csv({literal(str(path))}, {', '.join(options)})"
        elif fmt == "parquet":
            source = f"read_parquet({literal(str(path))})"
        elif fmt == "json":
            source = f"read_json_auto({literal(str(path))})"
        else:
            arrow = _xlsx(path, table) if fmt == "xlsx" else _sqlite(path, table)
            con.register(f"{name}__arrow", arrow)
            source = quote(f"{name}__arrow")
        columns = [row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        selected = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" for c in columns)
        con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS SELECT {selected} FROM {source}")
    except duckdb.Error as error:
        raise MigrationDataError(_explain(path, fmt, encoding, error)) from None
    return columns


def _explain(path: Path, fmt: str, encoding: str, error: duckdb.Error) -> str:
    whole = str(error).strip()
    first = whole.splitlines()[0] if whole else type(error).__name__
    if any(word in whole.lower() for word in ("unicode", "encoding", "utf-8", "utf8")):
        line = re.search(r"Line: (\d+)", whole)
        where = f" (line {line.group(1)})" if line else ""
        return (f"{path.name} is not valid {encoding} text{where}: give the file's "
                "`encoding:` (e.g. latin-1, cp1251, utf-16)")
    return f"{path.name} cannot be read as {fmt}: {first}"


def _xlsx(path: Path, sheet: str | None) -> pa.Table:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise MigrationDataError(f"{path.name} has no sheet '{sheet}' (sheets: "
                                     f"{', '.join(workbook.sheetnames)})")
        rows = (workbook[sheet] if sheet else workbook.worksheets[0]).iter_rows(values_only=True)
        header = [str(cell) for cell in next(rows, ())]
        return _arrow(header, rows)
    finally:
        workbook.close()


def _sqlite(path: Path, table: str | None) -> pa.Table:
    if table is None:
        raise MigrationDataError(f"{path.name} is a SQLite database: give `table:`")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            cursor = connection.execute(f"SELECT * FROM {quote(table)}")
        except sqlite3.Error as error:
            raise MigrationDataError(f"{path.name}: {error}") from None
        header = [column[0] for column in cursor.description]
        return _arrow(header, _fetch(cursor))
    finally:
        connection.close()


def _fetch(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(_BATCH):
        yield from batch


def _arrow(header: list[str], rows: Iterator[Any]) -> pa.Table:
    """Rows of Python values -> an Arrow table of text columns, built batch by batch."""
    batches: list[pa.RecordBatch] = []
    schema = pa.schema([(name, pa.string()) for name in header])
    chunk: list[list[str | None]] = [[] for _ in header]
    count = 0
    for row in rows:
        for index, column in enumerate(chunk):
            value = row[index] if index < len(row) else None
            column.append(None if value is None else str(value))
        count += 1
        if count == _BATCH:
            batches.append(pa.record_batch(chunk, schema=schema))
            chunk, count = [[] for _ in header], 0
    if count or not batches:
        batches.append(pa.record_batch(chunk, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)
