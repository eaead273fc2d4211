"""The defect ledger: defects kept across the runs of a campaign, in SQLite.

A defect is keyed by plan id + case id + a hash of the case's parameters, so that parametrised
variants are separate defects. One run's results update the ledger like this:

- failed: open a defect, or keep the open one open (last seen run, message and levels
  refreshed); a failure after a fix opens a new defect, the fixed one stays in the history;
- passed: close the open defect, remembering the run that fixed it;
- anything else (broken, blocked, skipped, not applicable, not run): leave it as it is —
  a broken case says nothing about the product.

The ledger also keeps, per plan, whether testing is suspended (the `resume_at` hysteresis of
the suspension gate needs the state of the previous run).

One writer (the controller process) and any number of readers: the database runs in WAL mode,
every write is one `BEGIN IMMEDIATE` transaction, and every call opens its own connection so a
`Ledger` may be shared between threads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from crmqa.core.errors import CrmqaError
from crmqa.core.results import CaseResult, Outcome, RunInfo, Waiver
from crmqa.plan.models import WaiverSpec

DEFAULT_LEDGER_PATH = Path("reports") / "ledger.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS defects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    params TEXT NOT NULL,
    title TEXT NOT NULL,
    category TEXT NOT NULL,
    module TEXT NOT NULL,
    severity TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    first_seen_run TEXT NOT NULL,
    last_seen_run TEXT NOT NULL,
    fixed_in_run TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    fixed_at TEXT,
    message TEXT NOT NULL,
    waiver TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS defects_one_open_per_key
    ON defects (plan_id, case_id, params_hash) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS defects_by_plan ON defects (plan_id, status);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    counts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS suspension (
    plan_id TEXT PRIMARY KEY,
    suspended INTEGER NOT NULL,
    changed_in_run TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
"""


class LedgerError(CrmqaError):
    """The ledger file cannot be opened or is not a crmqa ledger."""


class DefectStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Defect(BaseModel):
    """One defect of a campaign: a case (with its parameters) that failed in some run."""

    id: int
    plan_id: str
    case_id: str
    params_hash: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    title: str
    category: str
    module: str
    severity: str
    priority: str
    status: DefectStatus
    first_seen_run: str
    last_seen_run: str
    fixed_in_run: str | None = None
    first_seen_at: datetime
    last_seen_at: datetime
    fixed_at: datetime | None = None
    message: str = ""
    waiver: Waiver | None = None


class RunRecord(BaseModel):
    """A run the ledger has recorded, with its counts per outcome."""

    run_id: str
    plan_id: str
    started_at: datetime
    recorded_at: datetime
    counts: dict[str, int]


def params_hash(params: dict[str, Any]) -> str:
    """A short stable hash of a case's parameters; "" for a case without parameters."""
    if not params:
        return ""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


class Ledger:
    """Defects across the runs of a campaign, in one SQLite file (created on first use)."""

    def __init__(self, path: Path | str = DEFAULT_LEDGER_PATH) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            version = self._schema_version()
            if version is None:
                self._create_schema()
            elif version != SCHEMA_VERSION:
                raise LedgerError(
                    f"{self.path} is a defect ledger of schema version {version}; this crmqa "
                    f"reads version {SCHEMA_VERSION}: use a newer crmqa or another --reports"
                )
        except (sqlite3.DatabaseError, OSError) as error:
            raise LedgerError(f"cannot use {self.path} as the defect ledger: {error}") from None

    def _schema_version(self) -> int | None:
        """The schema version of an existing ledger; None for a new (empty) file."""
        with self._connect() as connection:
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "meta" not in tables:
                return None
            row = connection.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        return int(row["value"]) if row else None

    def _create_schema(self) -> None:
        # Only a new ledger takes the write lock here: a reader opening an existing ledger
        # never waits for the controller.
        with self._connect() as connection:
            # WAL lets readers read while the controller writes.
            connection.execute("PRAGMA journal_mode=WAL")
        with self._write() as connection:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    # ----------------------------------------------------------------- writing

    def record_run(
        self,
        run_info: RunInfo,
        results: Sequence[CaseResult],
        waivers: Sequence[WaiverSpec] | None = None,
    ) -> list[Defect]:
        """Update the ledger with one run's results; return the plan's open defects after it.

        `waivers` are the plan's current waivers: when given, they replace the waiver stored
        on every open defect of the plan (a waiver removed from the plan stops protecting its
        defect). Without them, a failed result's own waiver (set by the plugin) is kept.
        Recording the same run id twice changes nothing, so a run can be re-evaluated.
        """
        plan_id = run_info.plan_id
        seen_at = _iso(run_info.started_at)
        with self._write() as connection:
            already = connection.execute(
                "SELECT 1 FROM runs WHERE run_id = ?", (run_info.run_id,)
            ).fetchone()
            if already is None:
                for result in _one_per_key(results):
                    key = (plan_id, result.case_id, params_hash(result.params))
                    if result.outcome is Outcome.FAILED:
                        self._open_or_keep(connection, key, result, run_info.run_id, seen_at)
                    elif result.outcome is Outcome.PASSED:
                        connection.execute(
                            "UPDATE defects SET status = 'closed', fixed_in_run = ?, fixed_at = ?"
                            " WHERE plan_id = ? AND case_id = ? AND params_hash = ?"
                            " AND status = 'open'",
                            (run_info.run_id, seen_at, *key),
                        )
                counts: dict[str, int] = {}
                for result in results:
                    counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
                connection.execute(
                    "INSERT INTO runs (run_id, plan_id, started_at, recorded_at, counts)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (run_info.run_id, plan_id, seen_at, _iso(_now()), json.dumps(counts)),
                )
            if waivers is not None:
                self._apply_waivers(connection, plan_id, waivers)
        return self.open_defects(plan_id)

    def set_suspended(self, plan_id: str, suspended: bool, run_id: str) -> None:
        """Remember whether testing of `plan_id` is suspended after run `run_id`."""
        with self._write() as connection:
            connection.execute(
                "INSERT INTO suspension (plan_id, suspended, changed_in_run, changed_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (plan_id) DO UPDATE SET"
                " suspended = excluded.suspended, changed_in_run = excluded.changed_in_run,"
                " changed_at = excluded.changed_at",
                (plan_id, int(suspended), run_id, _iso(_now())),
            )

    # ----------------------------------------------------------------- reading

    def open_defects(self, plan_id: str) -> list[Defect]:
        """The plan's open defects, oldest first."""
        return self._select("WHERE plan_id = ? AND status = 'open' ORDER BY id", (plan_id,))

    def history(self, plan_id: str) -> list[Defect]:
        """Every defect the plan ever had, open and closed, oldest first."""
        return self._select("WHERE plan_id = ? ORDER BY id", (plan_id,))

    def runs(self, plan_id: str) -> list[RunRecord]:
        """The runs recorded for the plan, in the order they were recorded."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT run_id, plan_id, started_at, recorded_at, counts FROM runs"
                " WHERE plan_id = ? ORDER BY rowid",
                (plan_id,),
            ).fetchall()
        return [
            RunRecord(
                run_id=row["run_id"], plan_id=row["plan_id"], started_at=row["started_at"],
                recorded_at=row["recorded_at"], counts=json.loads(row["counts"]),
            )
            for row in rows
        ]

    def is_suspended(self, plan_id: str) -> bool:
        """Whether the last verdict for the plan suspended testing (False if never recorded)."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT suspended FROM suspension WHERE plan_id = ?", (plan_id,)
            ).fetchone()
        return bool(row["suspended"]) if row else False

    # ----------------------------------------------------------------- internals

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as error:
            raise LedgerError(f"cannot open the defect ledger {self.path}: {error}") from None
        connection.row_factory = sqlite3.Row
        try:
            connection.execute("PRAGMA busy_timeout = 30000")
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as connection:
            # IMMEDIATE takes the write lock up front, so two writers queue instead of
            # failing half-way with "database is locked" on upgrade from a read lock.
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _open_or_keep(
        self,
        connection: sqlite3.Connection,
        key: tuple[str, str, str],
        result: CaseResult,
        run_id: str,
        seen_at: str,
    ) -> None:
        waiver = result.waiver.model_dump_json() if result.waiver else None
        updated = connection.execute(
            "UPDATE defects SET last_seen_run = ?, last_seen_at = ?, message = ?, title = ?,"
            " category = ?, module = ?, severity = ?, priority = ?,"
            " waiver = COALESCE(?, waiver)"
            " WHERE plan_id = ? AND case_id = ? AND params_hash = ? AND status = 'open'",
            (
                run_id, seen_at, result.message, result.title, result.category, result.module,
                result.severity, result.priority, waiver, *key,
            ),
        ).rowcount
        if updated:
            return
        connection.execute(
            "INSERT INTO defects (plan_id, case_id, params_hash, params, title, category,"
            " module, severity, priority, status, first_seen_run, last_seen_run,"
            " first_seen_at, last_seen_at, message, waiver)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
            (
                *key, json.dumps(result.params, sort_keys=True, default=str), result.title,
                result.category, result.module, result.severity, result.priority, run_id,
                run_id, seen_at, seen_at, result.message, waiver,
            ),
        )

    def _apply_waivers(
        self, connection: sqlite3.Connection, plan_id: str, waivers: Sequence[WaiverSpec]
    ) -> None:
        by_case = {spec.case: spec for spec in waivers}  # a later entry wins, as in YAML maps
        rows = connection.execute(
            "SELECT id, case_id FROM defects WHERE plan_id = ? AND status = 'open'", (plan_id,)
        ).fetchall()
        for row in rows:
            spec = by_case.get(row["case_id"])
            waiver = (
                Waiver(case=spec.case, owner=spec.owner, reason=spec.reason, expires=spec.expires)
                .model_dump_json()
                if spec
                else None
            )
            connection.execute("UPDATE defects SET waiver = ? WHERE id = ?", (waiver, row["id"]))

    def _select(self, where: str, arguments: tuple[Any, ...]) -> list[Defect]:
        with self._connect() as connection:
            rows = connection.execute(f"SELECT * FROM defects {where}", arguments).fetchall()
        return [_defect(row) for row in rows]


def _defect(row: sqlite3.Row) -> Defect:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["waiver"] = Waiver.model_validate_json(data["waiver"]) if data["waiver"] else None
    return Defect.model_validate(data)


# When one run holds the same case twice (a rerun), a failure outweighs a pass, and a pass
# outweighs outcomes that say nothing about the product.
_WEIGHT = {Outcome.FAILED: 2, Outcome.PASSED: 1}


def _one_per_key(results: Sequence[CaseResult]) -> list[CaseResult]:
    """One result per case id and parameters, the weightiest outcome winning."""
    chosen: dict[tuple[str, str], CaseResult] = {}
    for result in results:
        key = (result.case_id, params_hash(result.params))
        current = chosen.get(key)
        if current is None or _WEIGHT.get(result.outcome, 0) > _WEIGHT.get(current.outcome, 0):
            chosen[key] = result
    return list(chosen.values())


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat()
