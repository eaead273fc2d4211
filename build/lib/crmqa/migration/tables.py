"""Reading data files into DuckDB: CSV, TSV, Parquet and JSON natively; XLSX and SQLite
through Python's own readers, a batch at a time, into a Parquet spool file that DuckDB reads
out of core (DuckDB's own extensions for them are downloaded at run time, which this machine
and many enterprise networks do not allow). Databases (crmqa.migration.databases) use the
same spool.

Every value is read as text: the mapping decides what a value means, and the comparison how
it is compared. A file that cannot be read (missing, wrong encoding, no such sheet or table,
a missing column) raises `MigrationDataError` with the file and what to do.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from crmqa.core.errors import CrmqaError

if TYPE_CHECKING:
    import pyarrow as pa

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
             spool_dir: Path, table: str | None = None, encoding: str = "utf-8",
             delimiter: str | None = None) -> list[str]:
    """Make `name` a view over the file (all columns text); return its column names.

    XLSX sheets and SQLite tables are first copied into a Parquet file in `spool_dir`. A CSV
    file is sniffed once, here: the view reads it with the dialect and columns found, so the
    queries over it do not sniff it again.
    """
    if not path.is_file():
        raise MigrationDataError(f"data file {path} does not exist")
    try:
        if fmt in ("csv", "tsv"):
            source = _sniffed(con, path, encoding, "\t" if fmt == "tsv" else delimiter)
        elif fmt == "parquet":
            source = f"read_parquet({literal(str(path))})"
        elif fmt == "json":
            source = f"read_json_auto({literal(str(path))})"
        else:
            spooled = spool_dir / f"{name}.parquet"
            if fmt == "xlsx":
                _xlsx(path, table, spooled)
            else:
                _sqlite(path, table, spooled)
            source = f"read_parquet({literal(str(spooled))})"
        columns = [row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        selected = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" for c in columns)
        con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS SELECT {selected} FROM {source}")
    except duckdb.Error as error:
        raise MigrationDataError(_explain(path, fmt, encoding, error)) from None
    return columns


def _sniffed(con: duckdb.DuckDBPyConnection, path: Path, encoding: str,
             separator: str | None) -> str:
    """`read_csv(...)` with the dialect and columns DuckDB's sniffer finds, spelled out.

    A view over `read_csv` with auto-detection sniffs the file again each time a query uses
    it (seconds on a large file, for every check); read with what was sniffed once and
    detection off, the file is read the same way without it. (Not the sniffer's own `Prompt`:
    it does not escape a quote in the file's name.) Every column is read as text, so the
    sniffer is not asked to guess types (a quarter of its work).
    """
    options = ["header = true", "all_varchar = true", "auto_type_candidates = ['VARCHAR']",
               f"encoding = {literal(encoding)}"]
    if separator:
        options.append(f"delim = {literal(separator)}")
    arguments = f"{literal(str(path))}, {', '.join(options)}"
    rows = con.execute("SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, "
                       f"Columns FROM sniff_csv({arguments})").fetchall()
    if not rows:
        return f"read_csv({arguments})"
    delimiter, quote_char, escape, new_line, comment, skip, columns = rows[0]
    if quote_char == "(empty)":
        # No quoted value in the sniffer's sample (its first 20,480 rows) is not a file
        # without quoting: a note with a comma further down is quoted as RFC 4180 says, and
        # read unquoted it would split in two. A '"' inside an unquoted value reads as it is.
        quote_char = escape = '"'

    def given(value: str) -> str:
        return literal("" if value == "(empty)" else value)

    names = ", ".join(f"{literal(column['name'])}: 'VARCHAR'" for column in columns)
    return (f"read_csv({literal(str(path))}, auto_detect = false, header = true, "
            f"delim = {given(delimiter)}, quote = {given(quote_char)}, "
            f"escape = {given(escape)}, new_line = {given(new_line)}, "
            f"comment = {given(comment)}, skip = {int(skip)}, "
            f"encoding = {literal(encoding)}, columns = {{{names}}})")


def _explain(path: Path, fmt: str, encoding: str, error: duckdb.Error) -> str:
    whole = str(error).strip()
    first = whole.splitlines()[0] if whole else type(error).__name__
    if any(word in whole.lower() for word in ("unicode", "encoding", "utf-8", "utf8")):
        line = re.search(r"Line: (\d+)", whole)
        where = f" (line {line.group(1)})" if line else ""
        return (f"{path.name} is not valid {encoding} text{where}: give the file's "
                "`encoding:` (e.g. latin-1, cp1251, utf-16)")
    return f"{path.name} cannot be read as {fmt}: {first}"


def _xlsx(path: Path, sheet: str | None, spooled: Path) -> None:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise MigrationDataError(f"{path.name} has no sheet '{sheet}' (sheets: "
                                     f"{', '.join(workbook.sheetnames)})")
        rows = (workbook[sheet] if sheet else workbook.worksheets[0]).iter_rows(values_only=True)
        header = [str(cell) for cell in next(rows, ())]
        spool(header, rows, spooled)
    finally:
        workbook.close()


def _sqlite(path: Path, table: str | None, spooled: Path) -> None:
    if table is None:
        raise MigrationDataError(f"{path.name} is a SQLite database: give `table:`")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            cursor = connection.execute(f"SELECT * FROM {quote(table)}")
        except sqlite3.Error as error:
            raise MigrationDataError(f"{path.name}: {error}") from None
        header = [column[0] for column in cursor.description]
        spool(header, _fetch(cursor), spooled)
    finally:
        connection.close()


def _fetch(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(_BATCH):
        yield from batch


def spool(header: Sequence[str], rows: Iterable[Sequence[Any]], path: Path) -> None:
    """Rows of Python values -> a Parquet file of text columns, written a batch at a time,
    so that memory holds one batch however many rows there are."""
    # imported here: only spooled sources need pyarrow, and it weighs ~40 MB in memory
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.string()) for name in header])
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[Sequence[Any]] = []
        written = False
        for row in rows:
            batch.append(row)
            if len(batch) == _BATCH:
                writer.write_batch(_record_batch(batch, schema))
                batch, written = [], True
        if batch or not written:
            writer.write_batch(_record_batch(batch, schema))


def _record_batch(rows: list[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    width = len(schema)
    # short rows (an XLSX row with empty trailing cells) are padded with nulls
    padded = (tuple(row) + (None,) * (width - len(row)) if len(row) < width else row
              for row in rows)
    columns = list(zip(*padded, strict=False)) if rows else [() for _ in range(width)]
    return pa.record_batch([_text_array(column) for column in columns[:width]], schema=schema)


def _text_array(values: Sequence[Any]) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.string())  # already text: no Python loop
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([None if value is None else str(value) for value in values],
                        type=pa.string())
