"""Migration reconciliation at scale: crmqa's checks against a bare DuckDB comparison.

    .venv/bin/python bench/migration.py [--rows 1000000] [--big 10000000] [--diff 0.007]

Generates a legacy extract and a migrated extract of the same leads (CSV, with Cyrillic and
Chinese names; `--diff` of the records damaged: dropped, added, a field changed), then, each in
its own process so that peak memory is its own, and in the same run:
- bare: one DuckDB SQL query that maps the legacy columns, joins on the key and counts the
  missing and unexpected records and, per field, the records on both sides that differ in it
  (what a person would write by hand; it does less than crmqa, and the run says what);
- crmqa: the migration workspace and the row_counts, missing, unexpected and fields checks,
  keeping every differing row in CSV files;
- datacompy, for reference, when it is installed (`pip install 'crmqa[bench]'`): the legacy
  side mapped the same way in Polars (`--datacompy pandas`: in pandas), then compared.
bare and crmqa take turns, `--repeat` times; it prints the best wall time and CPU time of each
(user + system, all threads: on a busy shared machine the steadier of the two), their ratios to
bare's best, the median of each run's ratio to the bare run of its own turn (on a machine whose
speed drifts, the two runs of a turn see the same machine), the highest peak RSS, and apart,
the time each took to import its libraries (before the clock starts: a crmqa run has imported
crmqa before its first check). `--big` adds one bare and one crmqa run on that many rows. Both
DuckDB sides work within `--memory-limit` (the plan's `migration.memory_limit`).
Goal: crmqa <= 1.2x bare, <= 512 MB peak RSS at 1M rows.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAPPING = {
    "email": {"from": "Email", "transform": ["trim", "lower"]},
    "first_name": {"from": "FirstName", "transform": ["trim"]},
    "last_name": {"from": "LastName", "transform": ["trim"]},
    "status": {"from": "Status", "map": {"Open": "new", "Working": "contacted",
                                         "Closed": "unqualified", "Won": "qualified"}},
    "company": {"from": "Company"},
    "notes": {"from": "Notes"},
    "created_at": {"from": "Created", "transform": [{"timestamp": "%Y-%m-%d %H:%M:%S"}]},
}
FIRST = ["Ann", "Bob", "Иван", "Мария", "王", "李", "Zoë", "O'Neil", "José", "Ольга"]
LAST = ["Lee", "Ray", "Петров", "Смирнова", "伟", "娜", "Noël", "D'Arcy", "García", "Иванова"]


def generate(folder: Path, rows: int, diff: float) -> tuple[Path, Path]:
    """Legacy and migrated CSVs of `rows` leads; `diff` of them damaged (DuckDB writes them)."""
    import duckdb

    legacy, migrated = folder / f"legacy-{rows}.csv", folder / f"migrated-{rows}.csv"
    if legacy.exists() and migrated.exists():
        return legacy, migrated
    con = duckdb.connect()
    con.execute("SET enable_progress_bar_print = false")
    first = "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in FIRST) + "]"
    last = "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in LAST) + "]"
    con.execute(f"""
        CREATE TABLE legacy AS SELECT
          i AS LegacyId,
          list_extract({first}, (i % 10) + 1) AS FirstName,
          list_extract({last}, ((i // 10) % 10) + 1) AS LastName,
          'LEAD' || i || '@Example.test' AS Email,
          list_extract(['Open', 'Working', 'Closed', 'Won'], (i % 4) + 1) AS Status,
          'Company ' || (i % 5000) AS Company,
          'note ' || md5(i::VARCHAR) AS Notes,
          strftime(TIMESTAMP '2020-01-01' + to_seconds(i * 37), '%Y-%m-%d %H:%M:%S') AS Created
        FROM range({rows}) t(i)""")
    con.execute(f"COPY legacy TO '{legacy}' (HEADER)")
    every = max(int(1 / diff), 1) if diff > 0 else rows + 1
    # the faithful migration, then damage: every `every`-th record dropped, changed or added
    con.execute(f"""
        CREATE TABLE migrated AS SELECT
          lower(trim(Email)) AS email, trim(FirstName) AS first_name, trim(LastName) AS last_name,
          CASE Status WHEN 'Open' THEN 'new' WHEN 'Working' THEN 'contacted'
                      WHEN 'Closed' THEN 'unqualified' ELSE 'qualified' END AS status,
          Company AS company,
          CASE WHEN LegacyId % {every} = 1 THEN left(Notes, 8) ELSE Notes END AS notes,
          strftime(strptime(Created, '%Y-%m-%d %H:%M:%S'), '%Y-%m-%dT%H:%M:%S') AS created_at
        FROM legacy WHERE LegacyId % {every} <> 0
        UNION ALL SELECT 'extra' || i || '@example.test', 'X', 'Y', 'new', 'c', 'n',
          '2024-01-01T00:00:00' FROM range({rows // every}) t(i)""")
    con.execute(f"COPY migrated TO '{migrated}' (HEADER)")
    con.close()
    return legacy, migrated


def bare(legacy: Path, migrated: Path, memory_limit: str) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(config={"memory_limit": memory_limit,
                                 "temp_directory": str(legacy.parent / "bare-tmp")})
    con.execute("SET enable_progress_bar_print = false")  # as crmqa's workspace
    fields = ["first_name", "last_name", "status", "company", "notes", "created_at"]
    # a field differs in a record found on both sides (as crmqa and datacompy count it)
    counts = ", ".join(f"count(*) FILTER (WHERE s.email IS NOT NULL AND t.email IS NOT NULL "
                       f"AND s.{f} IS DISTINCT FROM t.{f}) AS {f}" for f in fields)
    row = con.execute(f"""
        WITH s AS (SELECT lower(trim(Email)) AS email, trim(FirstName) AS first_name,
                     trim(LastName) AS last_name,
                     CASE Status WHEN 'Open' THEN 'new' WHEN 'Working' THEN 'contacted'
                       WHEN 'Closed' THEN 'unqualified' WHEN 'Won' THEN 'qualified'
                       ELSE Status END AS status, Company AS company, Notes AS notes,
                     strftime(try_strptime(Created, '%Y-%m-%d %H:%M:%S'), '%Y-%m-%dT%H:%M:%S')
                       AS created_at
                   FROM read_csv('{legacy}', header = true, all_varchar = true)),
             t AS (SELECT * FROM read_csv('{migrated}', header = true, all_varchar = true))
        SELECT count(*) FILTER (WHERE t.email IS NULL) AS missing,
               count(*) FILTER (WHERE s.email IS NULL) AS unexpected, {counts}
        FROM s FULL OUTER JOIN t ON s.email = t.email""").fetchone()
    assert row is not None
    return dict(zip(["missing", "unexpected", *fields], map(int, row), strict=True))


def crmqa(legacy: Path, migrated: Path, run_dir: Path, memory_limit: str) -> dict[str, int]:
    from crmqa.migration.checks import run_check
    from crmqa.migration.spec import MigrationSpec
    from crmqa.migration.step import MigrationCheck
    from crmqa.migration.workspace import Workspace

    spec = MigrationSpec.model_validate({
        "source": {"lead": {"file": str(legacy), "key": "LegacyId"}},
        "target": {"lead": {"file": str(migrated), "key": "email"}},
        "mapping": {"lead": MAPPING},
        "memory_limit": memory_limit,
    })
    space = Workspace(spec, legacy.parent, run_dir)
    found: dict[str, int] = {}
    for name in ("row_counts", "missing", "unexpected", "fields"):
        outcome = run_check(space, MigrationCheck(check=name, entity="lead"))
        for key, value in outcome.data.items():
            if isinstance(value, int):
                found[f"{name}.{key}"] = value
            elif isinstance(value, dict):
                found.update({f"{name}.{k}": v for k, v in value.items()})
    space.close()
    return found


def datacompy_run(legacy: Path, migrated: Path, backend: str) -> dict[str, int]:
    """datacompy on the same files: the legacy side mapped in the dataframe library (the
    same mapping as bare's SQL), then datacompy's comparison joined on the e-mail."""
    import datacompy  # type: ignore[import-not-found]

    statuses = {"Open": "new", "Working": "contacted", "Closed": "unqualified",
                "Won": "qualified"}
    if backend == "pandas":
        import pandas as pd  # type: ignore[import-untyped]

        raw = pd.read_csv(legacy, dtype=str, keep_default_na=False)
        created = pd.to_datetime(raw["Created"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
        source = pd.DataFrame({
            "email": raw["Email"].str.strip().str.lower(),
            "first_name": raw["FirstName"].str.strip(), "last_name": raw["LastName"].str.strip(),
            "status": raw["Status"].map(statuses).fillna(raw["Status"]),
            "company": raw["Company"], "notes": raw["Notes"],
            "created_at": created.dt.strftime("%Y-%m-%dT%H:%M:%S")})
        del raw
        target = pd.read_csv(migrated, dtype=str, keep_default_na=False)
        compare = datacompy.PandasCompare(source, target, join_columns="email")
    else:
        import polars as pl  # type: ignore[import-not-found]

        text = pl.col
        source = pl.read_csv(legacy, infer_schema=False).select(
            text("Email").str.strip_chars().str.to_lowercase().alias("email"),
            text("FirstName").str.strip_chars().alias("first_name"),
            text("LastName").str.strip_chars().alias("last_name"),
            text("Status").replace(statuses).alias("status"),
            text("Company").alias("company"), text("Notes").alias("notes"),
            text("Created").str.strptime(pl.Datetime, "%Y-%m-%d %H:%M:%S", strict=False)
            .dt.strftime("%Y-%m-%dT%H:%M:%S").alias("created_at"))
        target = pl.read_csv(migrated, infer_schema=False)
        compare = datacompy.PolarsCompare(source, target, join_columns="email")
    found = {"missing": len(compare.df1_unq_rows), "unexpected": len(compare.df2_unq_rows)}
    found.update({stats["column"]: int(stats["unequal_cnt"]) for stats in compare.column_stats
                  if stats["column"] != "email"})
    return found


# what each variant imports before its clock starts (a crmqa run has imported crmqa already)
_IMPORTS = {"bare": ["duckdb"],
            "crmqa": ["duckdb", "crmqa.migration.checks", "crmqa.migration.workspace"],
            "datacompy-polars": ["datacompy", "polars"],
            "datacompy-pandas": ["datacompy", "pandas"]}


def child(kind: str, legacy: Path, migrated: Path, run_dir: Path, memory_limit: str) -> None:
    """Run one variant and print its figures as JSON (in its own process)."""
    import importlib

    started = time.perf_counter()
    for module in _IMPORTS[kind]:
        importlib.import_module(module)
    # what importing left for the garbage collector is collected before the clock starts,
    # not by a collection that happens to fall within one variant's run
    gc.collect()
    imported = time.perf_counter()
    cpu_before = _cpu()
    if kind == "bare":
        found = bare(legacy, migrated, memory_limit)
    elif kind.startswith("datacompy"):
        found = datacompy_run(legacy, migrated, kind.partition("-")[2])
    else:
        found = crmqa(legacy, migrated, run_dir, memory_limit)
    elapsed = time.perf_counter() - imported
    print(json.dumps({"seconds": elapsed, "cpu": _cpu() - cpu_before,
                      "import": imported - started, "peak_mb": peak_rss_mb(), "found": found}))


def _differences(found: dict[str, int]) -> dict[str, int]:
    """What every side reports alike: missing and unexpected records, and per compared field
    the records found on both sides that differ in it (crmqa's figures are named by check)."""
    renamed = {"missing.count": "missing", "unexpected.count": "unexpected"}
    named = {renamed.get(key, key.removeprefix("fields.")): value
             for key, value in found.items()}
    return {key: named.get(key, -1) for key in ["missing", "unexpected", "first_name",
                                                "last_name", "status", "company", "notes",
                                                "created_at"]}


def _cpu() -> float:
    """CPU seconds of this process, every thread, user and system."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def datacompy_missing() -> str | None:
    """Why datacompy cannot run here, or None."""
    try:
        import datacompy  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return "not installed (pip install 'crmqa[bench]')"
    return None


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss: Linux keeps that across
    exec, so a child would report its parent's peak (the generator's, here)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, legacy: Path, migrated: Path, run_dir: Path,
            memory_limit: str) -> dict | None:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(legacy), str(migrated), str(run_dir),
         memory_limit],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        print(f"  {kind}: {reason}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=0,
                        help="also bare and crmqa runs on this many rows")
    parser.add_argument("--memory-limit", default="400MB",
                        help="DuckDB's memory limit for bare and crmqa (default: the plan's)")
    parser.add_argument("--diff", type=float, default=0.007)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many")
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--datacompy", default="polars", choices=["polars", "pandas", "none"],
                        help="the dataframe library datacompy compares in (none: skip it)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, legacy, migrated, run_dir, memory_limit = args.child
        child(kind, Path(legacy), Path(migrated), Path(run_dir), memory_limit)
        return
    folder = args.folder or Path(tempfile.mkdtemp(prefix="crmqa-bench-migration-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load "
          f"average {os.getloadavg()[0]:.1f}, memory limit {args.memory_limit}; files in {folder}")
    sizes = [args.rows] + ([args.big] if args.big else [])
    for rows in sizes:
        started = time.perf_counter()
        legacy, migrated = generate(folder, rows, args.diff)
        mb = (legacy.stat().st_size + migrated.stat().st_size) / 1e6
        print(f"\n{rows:,} rows ({mb:.0f} MB of CSV, generated in "
              f"{time.perf_counter() - started:.1f} s)")
        kinds = ["bare", "crmqa"]
        if rows == args.rows and args.datacompy != "none":
            reason = datacompy_missing()
            if reason:
                print(f"  datacompy: skipped, {reason}")
            else:
                kinds.append(f"datacompy-{args.datacompy}")
        best: dict[str, dict] = {}
        # attempt -> kind -> wall seconds: each run's ratio to the bare run of its own turn
        turns: dict[int, dict[str, float]] = {}
        # bare and crmqa take turns, so that a busy minute on the machine hits both
        attempts = args.repeat if rows == args.rows else 1  # the big run once: it takes minutes
        for attempt, kind in [(a, k) for a in range(attempts) for k in kinds]:
            if kind.startswith("datacompy") and attempt:
                continue  # for reference: once is enough
            figures = measure(kind, legacy, migrated, folder / f"run-{kind}-{rows}-{attempt}",
                              args.memory_limit)
            if figures is None:
                continue
            turns.setdefault(attempt, {})[kind] = figures["seconds"]
            # the best time and CPU time of the tries, and the highest peak memory
            kept = best.setdefault(kind, figures)
            kept.update(seconds=min(kept["seconds"], figures["seconds"]),
                        cpu=min(kept["cpu"], figures["cpu"]),
                        import_=min(kept.get("import_", figures["import"]), figures["import"]),
                        peak_mb=max(kept["peak_mb"], figures["peak_mb"]))
        base = best.get("bare", {}).get("seconds")
        cpu_base = best.get("bare", {}).get("cpu")
        print(f"  {'what':<16} {'seconds':>8} {'x bare':>7} {'paired':>7} {'CPU s':>7} "
              f"{'x bare':>7} {'peak MB':>8} {'import s':>9}")
        for kind, figures in best.items():
            ratio = f"{figures['seconds'] / base:.2f}" if base else "-"
            cpu_ratio = f"{figures['cpu'] / cpu_base:.2f}" if cpu_base else "-"
            paired = [turn[kind] / turn["bare"] for turn in turns.values()
                      if kind in turn and "bare" in turn]
            median = f"{statistics.median(paired):.2f}" if paired else "-"
            print(f"  {kind:<16} {figures['seconds']:>8.2f} {ratio:>7} {median:>7} "
                  f"{figures['cpu']:>7.2f} {cpu_ratio:>7} {figures['peak_mb']:>8.0f} "
                  f"{figures['import_']:>9.2f}")
        print("  (x bare: the best time over bare's best; paired: the median of each run's time "
              "over the bare run just before it)")
        for kind, figures in best.items():
            print(f"  {kind} found: {figures['found']}")
        differences = {kind: _differences(figures["found"]) for kind, figures in best.items()}
        same = len({json.dumps(found, sort_keys=True) for found in differences.values()}) == 1
        print(f"  the same missing, unexpected and differing records in all: "
              f"{'yes' if same else 'NO'} {differences.get('bare', '')}")
        print("  bare does less: it counts no legacy records (crmqa: exactly, once each however "
              "many migrated records share a key), keeps no differing rows (crmqa: every one, "
              "in CSV files) and does not trim the keys it joins on")


if __name__ == "__main__":
    main()
