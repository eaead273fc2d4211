"""The defect ledger: defects kept across the runs of a campaign, in SQLite.

Everything is kept per campaign (plan id + target name, see `Campaign`). A defect is keyed by
campaign + case id + a hash of the case's parameters, so that parametrised variants are
separate defects. One run's results update its campaign like this:

- failed: open a defect, or keep the open one open (last seen run, message and levels
  refreshed); a failure after a fix opens a new defect, the fixed one stays in the history;
- passed: close the open defect, remembering the run that fixed it;
- anything else (broken, blocked, skipped, not applicable, not run): leave it as it is —
  a broken case says nothing about the product.

Every recorded run keeps its campaign, the system version under test, its counts, and, once
the gates have decided, the decision and whether testing was suspended after it. The
campaign's suspension state is the one after its latest run whose verdict was recorded (the
`resume_at` hysteresis of the suspension gate needs it), and the state carried into a run is
the one after the run recorded before it. So re-evaluating an old run reads the state as it
was then, and changes the campaign's current state only when that run is the latest.

Ledgers of schema version 1 (no targets) are migrated when opened: their rows join the
campaign of their plan with no target, and the first run of that plan recorded with a target
takes that history over (see `_migrate_from_v1`).

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
from crmqa.ledger.campaign import Campaign
from crmqa.plan.models import WaiverSpec
from crmqa.plan.waivers import waivers_by_case

DEFAULT_LEDGER_PATH = Path("reports") / "ledger.sqlite"
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS defects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id TEXT NOT NULL,
    target TEXT NOT NULL,
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
CREATE UNIQUE INDEX IF NOT EXISTS defects_one_open_per_campaign_key
    ON defects (plan_id, target, case_id, params_hash) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS defects_by_campaign ON defects (plan_id, target, status);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    plan_id TEXT NOT NULL,
    target TEXT NOT NULL,
    system_version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    counts TEXT NOT NULL,
    decision TEXT,
    suspended INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_campaign ON runs (plan_id, target, seq);
CREATE TABLE IF NOT EXISTS unclaimed_v1_history (plan_id TEXT PRIMARY KEY);
"""


class LedgerError(CrmqaError):
    """The ledger file cannot be opened, is not a crmqa ledger, or a run does not fit it."""


class DefectStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Defect(BaseModel):
    """One defect of a campaign: a case (with its parameters) that failed in some run."""

    id: int
    plan_id: str
    target: str = ""
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
    """A run the ledger has recorded: what was tested, its counts per outcome, its verdict.

    `decision` and `suspended` are None until the gates' verdict on the run is recorded
    (and for runs migrated from a version-1 ledger, which kept neither).
    """

    run_id: str
    plan_id: str
    target: str = ""
    system_version: str = ""
    started_at: datetime
    recorded_at: datetime
    counts: dict[str, int]
    decision: str | None = None
    suspended: bool | None = None

    @property
    def campaign(self) -> Campaign:
        return Campaign(self.plan_id, self.target)


def params_hash(params: dict[str, Any]) -> str:
    """A short stable hash of a case's parameters; "" for a case without parameters."""
    if not params:
        return ""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


class Ledger:
    """Defects across the runs of each campaign, in one SQLite file (created on first use)."""

    def __init__(self, path: Path | str = DEFAULT_LEDGER_PATH) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            version = self._schema_version()
            if version is None:
                self._create_schema()
            elif version == 1:
                self._migrate()
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
            return _version(connection)

    def _create_schema(self) -> None:
        # Only a new ledger takes the write lock here: a reader opening an existing ledger
        # never waits for the controller.
        with self._connect() as connection:
            # WAL lets readers read while the controller writes.
            connection.execute("PRAGMA journal_mode=WAL")
        with self._write() as connection:
            _create_tables(connection)
            connection.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _migrate(self) -> None:
        with self._write() as connection:
            # Another process may have migrated between our look and our lock.
            if _version(connection) == 1:
                _migrate_from_v1(connection)

    # ----------------------------------------------------------------- writing

    def record_run(
        self,
        run_info: RunInfo,
        results: Sequence[CaseResult],
        waivers: Sequence[WaiverSpec] | None = None,
    ) -> list[Defect]:
        """Record one run's results in its campaign; return the defects open as of that run.

        The campaign is the run's plan id + target. `waivers` are the plan's current waivers:
        when given, they replace the waiver on every defect returned (a waiver removed from
        the plan stops protecting its defect). Without them, a failed result's own waiver (set
        by the plugin) is kept.

        Recording a run id again changes no defect, so a run can be re-evaluated. Only when it
        is the campaign's latest run are the waivers stored on the campaign's open defects;
        for an older run the defects returned are those open after it, as they stood then,
        with the waivers applied to the returned copies only.
        """
        campaign = Campaign.of(run_info)
        seen_at = _iso(run_info.started_at)
        with self._write() as connection:
            _claim_v1_history(connection, campaign)
            recorded = _recorded_seq(connection, campaign, run_info.run_id)
            if recorded is None:
                self._record_results(connection, campaign, run_info, results, seen_at)
                latest = True
            else:
                latest = recorded == _latest_seq(connection, campaign)
            if latest:
                if waivers is not None:
                    self._apply_waivers(connection, campaign, waivers)
                return _select(
                    connection,
                    "WHERE plan_id = ? AND target = ? AND status = 'open' ORDER BY id",
                    (campaign.plan_id, campaign.target),
                )
            defects = [
                d for d in _as_of(connection, campaign, run_info.run_id)
                if d.status is DefectStatus.OPEN
            ]
        if waivers is None:
            return defects
        by_case = waivers_by_case(waivers)
        return [d.model_copy(update={"waiver": by_case.get(d.case_id)}) for d in defects]

    def set_suspended(
        self, campaign: Campaign, suspended: bool, run_id: str, *, decision: str | None = None
    ) -> None:
        """Remember the verdict on run `run_id`: testing suspended after it, and its decision.

        The run must be recorded in `campaign`. This becomes the campaign's current
        suspension state only when `run_id` is the campaign's latest run.
        """
        with self._write() as connection:
            updated = connection.execute(
                "UPDATE runs SET suspended = ?, decision = COALESCE(?, decision)"
                " WHERE run_id = ? AND plan_id = ? AND target = ?",
                (int(suspended), decision, run_id, campaign.plan_id, campaign.target),
            ).rowcount
            if not updated:
                raise LedgerError(f"run {run_id} is not recorded for campaign {campaign}")

    # ----------------------------------------------------------------- reading

    def open_defects(self, campaign: Campaign, *, as_of: str | None = None) -> list[Defect]:
        """The campaign's open defects, oldest first: now, or right after run `as_of`."""
        return [d for d in self.history(campaign, as_of=as_of) if d.status is DefectStatus.OPEN]

    def history(self, campaign: Campaign, *, as_of: str | None = None) -> list[Defect]:
        """Every defect the campaign had, open and closed, oldest first.

        With `as_of`, the defects first seen in or before that run, each open or closed as it
        was right after it (a defect fixed later shows open). Their last-seen run, message
        and levels are the latest the ledger knows.
        """
        with self._connect() as connection:
            if as_of is not None:
                return _as_of(connection, campaign, as_of)
            return _select(
                connection,
                "WHERE plan_id = ? AND target = ? ORDER BY id",
                (campaign.plan_id, campaign.target),
            )

    def runs(self, campaign: Campaign) -> list[RunRecord]:
        """The runs recorded for the campaign, in the order they were recorded."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM runs WHERE plan_id = ? AND target = ? ORDER BY seq",
                (campaign.plan_id, campaign.target),
            ).fetchall()
        return [_run_record(row) for row in rows]

    def campaigns(self) -> list[Campaign]:
        """Every campaign with a recorded run, in the order their first runs were recorded."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT plan_id, target FROM runs GROUP BY plan_id, target ORDER BY MIN(seq)"
            ).fetchall()
        return [Campaign(row["plan_id"], row["target"]) for row in rows]

    def find_run(self, run_id: str) -> RunRecord | None:
        """The recorded run with this id, in whichever campaign; None if never recorded."""
        with self._connect() as connection:
            row = connection.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _run_record(row) if row else None

    def latest_run(self, campaign: Campaign) -> RunRecord | None:
        """The campaign's latest recorded run (the one its current state comes from)."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT * FROM runs WHERE plan_id = ? AND target = ? ORDER BY seq DESC LIMIT 1",
                (campaign.plan_id, campaign.target),
            ).fetchone()
        return _run_record(row) if row else None

    def is_suspended(self, campaign: Campaign, *, before: str | None = None) -> bool:
        """Whether testing of the campaign is suspended: now, or just before run `before`.

        The state is the one recorded for the latest run (before `before`, if given) whose
        verdict was recorded; False when there is none. A run not recorded yet comes after
        every recorded run.
        """
        with self._connect() as connection:
            limit = _recorded_seq(connection, campaign, before) if before else None
            row = connection.execute(
                "SELECT suspended FROM runs WHERE plan_id = ? AND target = ?"
                " AND suspended IS NOT NULL AND seq < COALESCE(?, seq + 1)"
                " ORDER BY seq DESC LIMIT 1",
                (campaign.plan_id, campaign.target, limit),
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

    def _record_results(
        self,
        connection: sqlite3.Connection,
        campaign: Campaign,
        run_info: RunInfo,
        results: Sequence[CaseResult],
        seen_at: str,
    ) -> None:
        for result in _one_per_key(results):
            key = (campaign.plan_id, campaign.target, result.case_id, params_hash(result.params))
            if result.outcome is Outcome.FAILED:
                self._open_or_keep(connection, key, result, run_info.run_id, seen_at)
            elif result.outcome is Outcome.PASSED:
                connection.execute(
                    "UPDATE defects SET status = 'closed', fixed_in_run = ?, fixed_at = ?"
                    " WHERE plan_id = ? AND target = ? AND case_id = ? AND params_hash = ?"
                    " AND status = 'open'",
                    (run_info.run_id, seen_at, *key),
                )
        counts: dict[str, int] = {}
        for result in results:
            counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
        connection.execute(
            "INSERT INTO runs (run_id, plan_id, target, system_version, started_at,"
            " recorded_at, counts) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run_info.run_id, campaign.plan_id, campaign.target, run_info.system_version,
                seen_at, _iso(_now()), json.dumps(counts),
            ),
        )

    def _open_or_keep(
        self,
        connection: sqlite3.Connection,
        key: tuple[str, str, str, str],
        result: CaseResult,
        run_id: str,
        seen_at: str,
    ) -> None:
        waiver = result.waiver.model_dump_json() if result.waiver else None
        updated = connection.execute(
            "UPDATE defects SET last_seen_run = ?, last_seen_at = ?, message = ?, title = ?,"
            " category = ?, module = ?, severity = ?, priority = ?,"
            " waiver = COALESCE(?, waiver)"
            " WHERE plan_id = ? AND target = ? AND case_id = ? AND params_hash = ?"
            " AND status = 'open'",
            (
                run_id, seen_at, result.message, result.title, result.category, result.module,
                result.severity, result.priority, waiver, *key,
            ),
        ).rowcount
        if updated:
            return
        connection.execute(
            "INSERT INTO defects (plan_id, target, case_id, params_hash, params, title,"
            " category, module, severity, priority, status, first_seen_run, last_seen_run,"
            " first_seen_at, last_seen_at, message, waiver)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
            (
                *key, json.dumps(result.params, sort_keys=True, default=str), result.title,
                result.category, result.module, result.severity, result.priority, run_id,
                run_id, seen_at, seen_at, result.message, waiver,
            ),
        )

    def _apply_waivers(
        self, connection: sqlite3.Connection, campaign: Campaign, waivers: Sequence[WaiverSpec]
    ) -> None:
        by_case = waivers_by_case(waivers)
        rows = connection.execute(
            "SELECT id, case_id FROM defects WHERE plan_id = ? AND target = ?"
            " AND status = 'open'",
            (campaign.plan_id, campaign.target),
        ).fetchall()
        for row in rows:
            waiver = by_case.get(row["case_id"])
            connection.execute(
                "UPDATE defects SET waiver = ? WHERE id = ?",
                (waiver.model_dump_json() if waiver else None, row["id"]),
            )


# ------------------------------------------------------------------------- queries


def _version(connection: sqlite3.Connection) -> int | None:
    tables = {
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    if "meta" not in tables:
        return None
    row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row["value"]) if row else None


def _create_tables(connection: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)


def _recorded_seq(connection: sqlite3.Connection, campaign: Campaign, run_id: str) -> int | None:
    """The record position of `run_id` in `campaign`; None if the run is not recorded."""
    row = connection.execute(
        "SELECT seq, plan_id, target FROM runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    if row is None:
        return None
    recorded_in = Campaign(row["plan_id"], row["target"])
    if recorded_in != campaign:
        # A run belongs to one campaign; re-evaluating it under another one would mix two
        # vendors' histories again.
        raise LedgerError(
            f"run {run_id} is recorded for campaign {recorded_in}, not {campaign}"
        )
    return int(row["seq"])


def _latest_seq(connection: sqlite3.Connection, campaign: Campaign) -> int | None:
    row = connection.execute(
        "SELECT MAX(seq) AS seq FROM runs WHERE plan_id = ? AND target = ?",
        (campaign.plan_id, campaign.target),
    ).fetchone()
    return None if row["seq"] is None else int(row["seq"])


def _select(
    connection: sqlite3.Connection, where: str, arguments: tuple[Any, ...]
) -> list[Defect]:
    rows = connection.execute(f"SELECT * FROM defects {where}", arguments).fetchall()
    return [_defect(dict(row)) for row in rows]


def _as_of(connection: sqlite3.Connection, campaign: Campaign, run_id: str) -> list[Defect]:
    """The campaign's defects as they stood right after run `run_id` (see `Ledger.history`)."""
    seq = _recorded_seq(connection, campaign, run_id)
    if seq is None:
        raise LedgerError(f"run {run_id} is not recorded for campaign {campaign}")
    # A run id a defect names but the runs table lacks cannot come from crmqa; such a
    # defect is taken as seen (or fixed) before every run rather than dropped.
    rows = connection.execute(
        "SELECT d.*, COALESCE(f.seq, 0) AS first_seq,"
        " CASE WHEN d.fixed_in_run IS NULL THEN NULL ELSE COALESCE(x.seq, 0) END AS fixed_seq"
        " FROM defects d"
        " LEFT JOIN runs f ON f.run_id = d.first_seen_run"
        " LEFT JOIN runs x ON x.run_id = d.fixed_in_run"
        " WHERE d.plan_id = ? AND d.target = ? AND COALESCE(f.seq, 0) <= ? ORDER BY d.id",
        (campaign.plan_id, campaign.target, seq),
    ).fetchall()
    defects = []
    for row in rows:
        data = dict(row)
        data.pop("first_seq")
        fixed_seq = data.pop("fixed_seq")
        if fixed_seq is not None and fixed_seq > seq:
            data.update(status="open", fixed_in_run=None, fixed_at=None)
        defects.append(_defect(data))
    return defects


def _defect(data: dict[str, Any]) -> Defect:
    data["params"] = json.loads(data["params"])
    data["waiver"] = Waiver.model_validate_json(data["waiver"]) if data["waiver"] else None
    return Defect.model_validate(data)


def _run_record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    data.pop("seq")
    data["counts"] = json.loads(data["counts"])
    if data["suspended"] is not None:
        data["suspended"] = bool(data["suspended"])
    return RunRecord.model_validate(data)


# ------------------------------------------------------------------------- version 1


def _migrate_from_v1(connection: sqlite3.Connection) -> None:
    """Turn a version-1 ledger (keyed by plan id alone) into version 2, in place.

    Version 1 recorded no target, so its defects and runs join the campaign (plan, no
    target), and the plan is marked unclaimed: the first run of that plan recorded with a
    target takes the whole history over (`_claim_v1_history`). Most plans ran against one
    target, and their history then simply continues; a plan that ran against several
    targets before had them mixed already, and that mixed history goes to whichever target
    is recorded first. Every row is kept: defects and runs as they were (runs in their
    order, system version unknown, decision unknown); the plan's suspension state goes on
    the run that set it (or the plan's latest run), so it carries into the next run; the
    version-1 suspension table itself is kept, unread, as `v1_suspension`.
    """
    connection.execute("ALTER TABLE defects ADD COLUMN target TEXT NOT NULL DEFAULT ''")
    connection.execute("DROP INDEX IF EXISTS defects_one_open_per_key")
    connection.execute("DROP INDEX IF EXISTS defects_by_plan")
    connection.execute("ALTER TABLE runs RENAME TO v1_runs")
    connection.execute("ALTER TABLE suspension RENAME TO v1_suspension")
    _create_tables(connection)  # the new runs table and indexes; defects and meta stay
    connection.execute(
        "INSERT INTO unclaimed_v1_history (plan_id)"
        " SELECT plan_id FROM defects UNION SELECT plan_id FROM v1_runs"
        " UNION SELECT plan_id FROM v1_suspension"
    )
    connection.execute(
        "INSERT INTO runs (run_id, plan_id, target, system_version, started_at, recorded_at,"
        " counts) SELECT run_id, plan_id, '', '', started_at, recorded_at, counts"
        " FROM v1_runs ORDER BY rowid"
    )
    connection.execute("DROP TABLE v1_runs")
    for state in connection.execute("SELECT * FROM v1_suspension").fetchall():
        plan_id, run_id = state["plan_id"], state["changed_in_run"]
        run = connection.execute(
            "SELECT seq FROM runs WHERE plan_id = ? AND target = ''"
            " ORDER BY run_id = ? DESC, seq DESC LIMIT 1",
            (plan_id, run_id),
        ).fetchone()
        if run is None:
            # A state set with no run recorded (possible through the API only): keep it on
            # a run of its own, so that it still carries into the plan's next run.
            connection.execute(
                "INSERT OR IGNORE INTO runs (run_id, plan_id, target, system_version,"
                " started_at, recorded_at, counts) VALUES (?, ?, '', '', ?, ?, '{}')",
                (run_id, plan_id, state["changed_at"], state["changed_at"]),
            )
            run = connection.execute(
                "SELECT seq FROM runs WHERE plan_id = ? AND target = '' AND run_id = ?",
                (plan_id, run_id),
            ).fetchone()
        if run is not None:
            connection.execute(
                "UPDATE runs SET suspended = ? WHERE seq = ?", (state["suspended"], run["seq"])
            )
    connection.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
    )


def _claim_v1_history(connection: sqlite3.Connection, campaign: Campaign) -> None:
    """Move the plan's unclaimed version-1 history into `campaign`, if it has a target."""
    if not campaign.target:
        return
    claimed = connection.execute(
        "DELETE FROM unclaimed_v1_history WHERE plan_id = ?", (campaign.plan_id,)
    ).rowcount
    if claimed:
        for table in ("defects", "runs"):
            connection.execute(
                f"UPDATE {table} SET target = ? WHERE plan_id = ? AND target = ''",
                (campaign.target, campaign.plan_id),
            )


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
