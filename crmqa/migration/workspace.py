"""One DuckDB workspace per worker: each entity's mapped source, its target, and their diff.

For an entity the workspace builds, once:
- view `src_<entity>`: the legacy rows mapped to canonical fields, with `__key` (the join key:
  the target's key fields as the mapping makes them) and `__source_key` (the legacy key);
- view `tgt_<entity>`: the migrated records (read through the CRM, or from an extract), with
  `__key` from the target's key fields;
- table `joinrows_<entity>`: one full outer join of the two (a single scan of each file), one
  narrow row per joined record: the hash of the legacy key (to count legacy records) and,
  only where the record is missing, unexpected or differs, one list: which of the three, its
  keys, and per compared field, where the two differ, their values (a field differs where it
  kept a value). So the table stays small however large the data: what agrees is counted,
  never stored;
- table `reportedrows_<entity>`: the reported records alone, their lists unpacked into
  `__missing`, `__unexpected`, `__key`, `__source_key`, `s_<field>` and `t_<field>`, and
  over it view `reported_<entity>`, with `d_<field>` (the field differs), which the checks
  read; view `joined_<entity>` unpacks the joined table the same way, a row per joined record;
- the counts the checks report (`Prepared`), taken once: legacy and migrated records, those
  found on both sides, missing, unexpected, and per field those that differ.
Keys are matched trimmed (an empty key is no key), as the plan's own `trim` does it.
Checks read `reported_<entity>`; the few that need every value (duplicates, required,
references) scan the side views. DuckDB works out of core within `memory_limit` (and `threads`),
spilling to the run folder, so the size of the data is bounded by disk, not memory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from crmqa.migration.databases import Selection, extract
from crmqa.migration.mapping import ends_trimmed, field_sql, normalised, trimmed
from crmqa.migration.progress import Progress
from crmqa.migration.spec import MigrationSpec, SourceTable, TargetTable
from crmqa.migration.tables import MigrationDataError, file_format, literal, quote, relation
from crmqa.plan.files import find_data_file, missing_file_message, search_folders

# Reads an entity's migrated records through the CRM: (entity, target spec) -> records.
RecordReader = Callable[[str, TargetTable], list[dict[str, Any]]]


@dataclass
class Prepared:
    """An entity ready to check: its tables, its fields, how each is compared, its counts."""

    entity: str
    fields: list[str]  # canonical fields mapped and present in the target
    compare: dict[str, str]
    source_rows: int
    target_rows: int
    matched: int  # records found on both sides
    missing: int  # legacy records with no migrated record
    unexpected: int  # migrated records with no legacy record
    differing: dict[str, int]  # field -> matched records whose values of it differ
    source_columns: list[str]
    target_columns: list[str]
    notes: list[str] = field(default_factory=list)


class Workspace:
    """The DuckDB connection of one worker and the entities prepared in it."""

    def __init__(self, spec: MigrationSpec, base_dir: Path, run_dir: Path,
                 read_records: RecordReader | None = None,
                 required: Mapping[str, list[str]] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        # entity -> canonical fields the plan's requirements say are required
        self.required = dict(required or {})
        self.base_dir = base_dir
        self.folder = run_dir / "migration"
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "tmp").mkdir(exist_ok=True)
        config: dict[str, Any] = {
            "memory_limit": spec.memory_limit,
            "temp_directory": str(self.folder / "tmp"),
            # the joined table and the exported rows need no particular order (every export
            # sorts), and keeping it would hold rows in memory that could stream or spill
            "preserve_insertion_order": False,
        }
        if spec.threads is not None:
            config["threads"] = spec.threads
        self.con = duckdb.connect(config=config)
        self.con.execute("SET TimeZone = 'UTC'")
        _track_progress_silently(self.con)
        # what the workspace is doing, for the console, while a long check runs
        self.progress = Progress(self.con, progress)
        self._read_records = read_records
        self._prepared: dict[str, Prepared] = {}
        # entity -> why it could not be prepared: a down database is asked once, not per check
        self._failed: dict[str, Exception] = {}
        self._sources: dict[str, list[str]] = {}

    def close(self) -> None:
        """Close DuckDB and remove its spill files and the spooled copies of database tables
        and sheets: the run folder keeps the differing rows, not a copy of the legacy data."""
        self.con.close()
        shutil.rmtree(self.folder / "tmp", ignore_errors=True)

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(query, params or []).fetchall()

    # ------------------------------------------------------------------ preparing

    def source_view(self, entity: str) -> list[str]:
        """The raw legacy rows of `entity` as view `raw_<entity>`; returns its columns."""
        source = self.spec.source.get(entity)
        if source is None:
            raise MigrationDataError(f"the plan's migration section has no source '{entity}' "
                                     f"(sources: {', '.join(self.spec.source) or 'none'})")
        if entity not in self._sources:
            self._sources[entity] = self._side_view(f"raw_{entity}", source,
                                                    f"migration.source.{entity}")
        return self._sources[entity]

    def _side_view(self, name: str, side: SourceTable | TargetTable, where: str,
                   con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
        """View `name` over a side's extract (a file, or a database's table or query)."""
        con = con or self.con
        if side.database is not None:
            spooled = self.folder / "tmp" / f"{name}.parquet"
            columns = extract(side.database, Selection(side.table, side.sql), spooled, where)
            selected = ", ".join(quote(c) for c in columns) or "NULL AS __empty"
            con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS SELECT {selected} "
                        f"FROM read_parquet({literal(str(spooled))})")
            return columns
        assert side.file is not None
        path = self._file(side.file, where)
        return relation(con, name, path, file_format(path, side.format),
                        spool_dir=self.folder / "tmp", table=side.table,
                        encoding=side.encoding, delimiter=side.delimiter)

    def _open_extracts(self, entity: str, target: TargetTable) -> list[str] | None:
        """Open the source's and the target's extracts at once; return the target's columns
        (None when the target is read through the CRM).

        Opening a CSV file sniffs it, on one core, and spooling a sheet or a database table
        waits on the file or the server: two extracts opened side by side take about the
        time of the slower one. Each opens on a cursor of its own; a problem with the source
        is reported first, as when they open in turn."""
        if target.from_ is not None:
            self.source_view(entity)
            return None
        source_where, target_where = f"migration.source.{entity}", f"migration.target.{entity}"
        source = self.spec.source[entity]

        def opened(name: str, side: SourceTable | TargetTable, where: str) -> list[str]:
            with self.con.cursor() as cursor:
                _track_progress_silently(cursor)
                return self._side_view(name, side, where, cursor)

        with ThreadPoolExecutor(max_workers=2) as pool:
            source_opened = (None if entity in self._sources else
                             pool.submit(opened, f"raw_{entity}", source, source_where))
            target_opened = pool.submit(opened, f"tgtraw_{entity}", target, target_where)
            if source_opened is not None:
                self._sources[entity] = source_opened.result()
            return target_opened.result()

    def prepared(self, entity: str) -> Prepared:
        if entity in self._failed:
            raise self._failed[entity]
        found = self._prepared.get(entity)
        if found is None:
            try:
                found = self._prepare(entity)
            except Exception as error:
                self._failed[entity] = error
                raise
            finally:
                self.progress.phase("")
            self._prepared[entity] = found
        return found

    def _prepare(self, entity: str) -> Prepared:
        source = self.spec.source[entity]
        target = self.spec.target.get(entity)
        if target is None:
            raise MigrationDataError(f"the plan's migration section has no target '{entity}'")
        self.progress.phase(f"opening the legacy and migrated extracts of {entity}")
        target_raw = self._open_extracts(entity, target)
        columns = self.source_view(entity)
        mapping = self.spec.mapping.get(entity, {})
        where = f"migration.mapping.{entity}"
        expressions = {name: field_sql(name, spec, columns, self.base_dir, where)
                       for name, spec in mapping.items()}
        missing_keys = [key for key in target.keys if key not in expressions]
        if missing_keys:
            raise MigrationDataError(
                f"migration.target.{entity}.key names {', '.join(missing_keys)}, which the "
                f"mapping does not make: map it from the legacy key ({', '.join(source.keys)})")
        for key in source.keys:
            if key not in columns:
                raise MigrationDataError(f"migration.source.{entity}.key: the source has no "
                                         f"column '{key}' (columns: {', '.join(columns)})")
        # the join key is made from the mapped fields (a layer below), so that its SQL names
        # them rather than repeating each one's mapping
        trimmed_last = all(ends_trimmed(mapping[key]) for key in target.keys)
        join_key = _joined([quote(key) for key in target.keys], trim=not trimmed_last)
        # A key of one field that its mapping trims last is that field itself (an empty one
        # matches nothing: the target's key is never empty): the join compares the field,
        # instead of carrying a copy of it through the join as the key
        direct_key = target.keys[0] if len(target.keys) == 1 and trimmed_last else None
        legacy_key = _joined([quote(key) for key in source.keys])
        selected = "".join(f", {sql} AS {quote(name)}" for name, sql in expressions.items())
        self.con.execute(
            f"CREATE OR REPLACE VIEW {quote('src_' + entity)} AS SELECT {join_key} AS __key, "
            f"* FROM (SELECT {legacy_key} AS __source_key{selected} "
            f"FROM {quote('raw_' + entity)})")
        target_columns = self._target_view(entity, target, target_raw)
        fields = [name for name in mapping if name in target_columns]
        notes = [f"{name}: not in the migrated records, not compared"
                 for name in mapping if name not in target_columns]
        compare: dict[str, str] = {name: str(mapping[name].compare) for name in fields}
        self.progress.phase(f"joining the legacy and migrated {entity} records")
        self._join(entity, fields, compare, direct_key)
        self.progress.phase(f"counting the {entity} records")
        return self._tally(entity, fields, compare, columns, target_columns, notes)

    def _tally(self, entity: str, fields: list[str], compare: dict[str, str],
               source_columns: list[str], target_columns: list[str],
               notes: list[str]) -> Prepared:
        """The entity's counts, in one statement: the joined records (a scan of the narrow
        table: how many, how many with a legacy key, how many distinct legacy keys) and the
        reported ones (how many missing, unexpected, and differing in each field)."""
        rows, reported = quote("joinrows_" + entity), quote("reported_" + entity)
        matched = "NOT __missing AND NOT __unexpected"
        differing = "".join(f", count(*) FILTER (WHERE {matched} AND {quote('d_' + name)})"
                            for name in fields)
        joined, hashes, distinct_hashes, missing, unexpected, *per_field = self.sql(
            f"SELECT * FROM (SELECT count(*), count(__source_hash) FROM {rows}), "
            # distinct values as a grouping (its hash table built in parallel), not as
            # count(DISTINCT): ~20 % less time at a million keys
            "(SELECT count(*) FROM (SELECT DISTINCT __source_hash FROM "
            f"{rows} WHERE __source_hash IS NOT NULL)), "
            "(SELECT count(*) FILTER (WHERE __missing), count(*) FILTER (WHERE __unexpected)"
            f"{differing} FROM {reported})")[0]
        # A legacy record is counted once however many migrated records share its key; a
        # migrated record once per legacy record it matched (duplicates are their own check).
        # Distinct hashes are distinct keys: then every legacy key was joined once. A repeated
        # hash is a legacy key joined twice (a duplicate on either side) or, rarely, two keys
        # with one hash: then the legacy keys are counted exactly, from the source itself.
        distinct_sources = int(hashes) if hashes == distinct_hashes else int(self.sql(
            f"SELECT count(DISTINCT __source_key) FROM {quote('src_' + entity)}")[0][0])
        # an unexpected record has no legacy key; the other joined records without one are
        # legacy records whose key is empty: each is a legacy record of its own
        keyless = int(joined) - int(hashes) - int(unexpected)
        return Prepared(entity, fields, compare, distinct_sources + keyless,
                        target_rows=int(joined) - int(missing),
                        matched=int(joined) - int(missing) - int(unexpected),
                        missing=int(missing), unexpected=int(unexpected),
                        differing={name: int(count) for name, count in zip(
                            fields, per_field, strict=True)},
                        source_columns=source_columns, target_columns=target_columns,
                        notes=notes)

    def _target_view(self, entity: str, target: TargetTable,
                     columns: list[str] | None) -> list[str]:
        """View `tgt_<entity>` (over `tgtraw_<entity>` with its `columns` when the target is
        an extract): canonical fields as text, and `__key`; returns its fields."""
        name = quote("tgt_" + entity)
        if columns is not None:
            renamed = {canonical: extract for canonical, extract in target.columns.items()}
            fields = [c for c in columns if c not in renamed.values()] + list(renamed)
            exprs = [f"{quote(renamed.get(f, f))} AS {quote(f)}" for f in fields]
            origin = quote(f"tgtraw_{entity}")
        else:
            if self._read_records is None:
                raise MigrationDataError("reading the target through the CRM needs a driver")
            self.progress.phase(f"reading the migrated {entity} records through the CRM")
            records = self._read_records(entity, target)
            path = self.folder / f"target-{entity}.jsonl"
            with path.open("w", encoding="utf-8") as out:
                for record in records:
                    out.write(json.dumps({k: _text(v) for k, v in record.items()},
                                         ensure_ascii=False) + "\n")
            fields = sorted({key for record in records for key in record})
            if not records:
                self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT NULL::VARCHAR AS "
                                 "__key WHERE false")
                return []
            columns_spec = "{" + ", ".join(f"{_json_key(f)}: 'VARCHAR'" for f in fields) + "}"
            origin = (f"read_json({_json_literal(str(path))}, format = 'newline_delimited', "
                      f"columns = {columns_spec})")
            exprs = [quote(f) for f in fields]
        missing = [key for key in target.keys if key not in fields]
        if missing:
            raise MigrationDataError(
                f"migration.target.{entity}.key: the migrated records have no field "
                f"{', '.join(missing)} (fields: {', '.join(fields)})")
        key = _joined([quote(k) for k in target.keys])
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {key} AS __key, "
                         f"{', '.join(exprs)} FROM {origin}")
        return fields

    def _join(self, entity: str, fields: list[str], compare: dict[str, str],
              direct_key: str | None = None) -> None:
        """Table `joinrows_<entity>` in one pass, the reported records' table over it, and the
        views that unpack them (see the module's docstring): each field compared once, and
        the keys and values kept only for the records a check reports. With `direct_key`,
        the source side joins on that mapped field rather than on a copy of it."""
        source, target = quote("src_" + entity), quote("tgt_" + entity)
        if direct_key is None:
            source_side, source_key = f"SELECT *, true AS __side FROM {source}", "s.__key"
        else:
            source_side = f"SELECT * EXCLUDE (__key), true AS __side FROM {source}"
            source_key = f"CAST(s.{quote(direct_key)} AS VARCHAR)"
        compared = []
        # what a reported record keeps, in one list: whether it is missing or unexpected, its
        # keys and, per field, the two values where they differ
        kept = ["CASE WHEN __missing THEN 'missing' WHEN __unexpected THEN 'unexpected' END",
                "coalesce(nullif(__source_side_key, ''), __target_side_key)", "__source_key"]
        for name in fields:
            flag, value = quote("d_" + name), quote(name)
            # equal as read is equal however compared: the comparison's functions run only
            # for the few values that differ as read (or are missing on a side)
            compared += [f"(CASE WHEN s.{value} = t.{value} THEN false ELSE "
                         f"{normalised('s.' + value, compare[name])} <> "
                         f"{normalised('t.' + value, compare[name])} END) AS {flag}",
                         f"s.{value} AS {quote('s_' + name)}",
                         f"t.{value} AS {quote('t_' + name)}"]
            kept += [f"CASE WHEN {flag} THEN {quote('s_' + name)} END",
                     f"CASE WHEN {flag} THEN {quote('t_' + name)} END"]
        reported = " OR ".join(["__missing", "__unexpected",
                                *(quote("d_" + name) for name in fields)])
        # Each side is marked: a record whose key is empty matches nothing, and is still a
        # legacy record that is missing (or a migrated one that is unexpected), never both.
        # (the key a reported record shows is the side's that has one: worked out for those
        # few records only)
        joined = (f"SELECT {source_key} AS __source_side_key, t.__key AS __target_side_key, "
                  "s.__source_key AS __source_key, "
                  "s.__side IS NULL AS __unexpected, t.__side IS NULL AS __missing"
                  + "".join(f", {column}" for column in compared)
                  + f" FROM ({source_side}) s FULL OUTER JOIN "
                  f"(SELECT *, true AS __side FROM {target}) t ON {source_key} = t.__key")
        # One narrow row per joined record: the hash of its legacy key (legacy records are
        # counted from it) and for a record a check reports, the list; NULL for all the
        # others. Column by column (a flag and two values per field), a million records
        # agreeing would write a million of each, all NULL or false.
        rows = quote("joinrows_" + entity)
        self.con.execute(
            f"CREATE OR REPLACE TABLE {rows} AS SELECT "
            "CASE WHEN __source_key IS NOT NULL THEN hash(__source_key) END AS __source_hash, "
            f"CASE WHEN {reported} THEN [{', '.join(kept)}] END AS __kept FROM ({joined})")
        unpacked = ["coalesce(__kept[1] = 'missing', false) AS __missing",
                    "coalesce(__kept[1] = 'unexpected', false) AS __unexpected",
                    "__kept[2] AS __key", "__kept[3] AS __source_key"]
        flags = []
        for number, name in enumerate(fields):
            at = 4 + 2 * number
            source_value, target_value = quote("s_" + name), quote("t_" + name)
            unpacked += [f"__kept[{at}] AS {source_value}", f"__kept[{at + 1}] AS {target_value}"]
            # values that differ are never both missing (every comparison sees a missing value
            # as empty): a field differs where it kept a value
            flags.append(f"({source_value} IS NOT NULL OR {target_value} IS NOT NULL) AS "
                         f"{quote('d_' + name)}")
        with_flags = ", ".join(["*", *flags])
        # every joined record (what agrees has no keys or values: they were not kept)
        self.con.execute(f"CREATE OR REPLACE VIEW {quote('joined_' + entity)} AS SELECT "
                         f"{with_flags} FROM (SELECT __source_hash, {', '.join(unpacked)} "
                         f"FROM {rows})")
        # What the checks read: the reported records, unpacked once into a table of their
        # own. Read from the joined table, each of the checks' queries (a few per check) would
        # scan a row per joined record, and unpack the lists again (slowly: DuckDB takes a
        # list apart element by element).
        table = quote("reportedrows_" + entity)
        self.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(unpacked)} "
                         f"FROM {rows} WHERE __kept IS NOT NULL")
        self.con.execute(f"CREATE OR REPLACE VIEW {quote('reported_' + entity)} AS SELECT "
                         f"{with_flags} FROM {table}")

    def _file(self, name: str, where: str) -> Path:
        folders = search_folders(self.base_dir)
        found = find_data_file(name, folders)
        if found is None:
            raise MigrationDataError(f"{where}: {missing_file_message(name, folders)}")
        return found

    def export(self, query: str, name: str) -> Path:
        """Write a query's rows to a CSV file in the run folder (evidence), return its path."""
        path = self.folder / name
        self.con.execute(f"COPY ({query}) TO {_json_literal(str(path))} (HEADER, DELIMITER ',')")
        return path


def _track_progress_silently(connection: duckdb.DuckDBPyConnection) -> None:
    """DuckDB measures how far a statement is (off by default outside a terminal), for
    `Progress` to say on the console, and prints no bar of its own: it would write into the
    case's captured output, and so into its report."""
    connection.execute("SET enable_progress_bar = true")
    connection.execute("SET enable_progress_bar_print = false")


def _joined(parts: list[str], trim: bool = True) -> str:
    """A key from its parts: one part trimmed (unless `trim` says it is already; empty is no
    key), several joined with '|'."""
    if len(parts) == 1:
        text = f"CAST({parts[0]} AS VARCHAR)"
        return f"nullif({trimmed(text) if trim else text}, '')"
    return "concat_ws('|', " + ", ".join(f"coalesce({p}, '')" for p in parts) + ")"


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(
        value)


def _json_key(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _json_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
