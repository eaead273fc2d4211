"""SQLite storage for the sandbox: schema, generic record access, lead search, users.

All SQL is parameterised; the one place that is not is the `sql_injection_search` fault, on
purpose. Every call runs on the event loop thread (the app's handlers are async and SQLite
calls take microseconds), so one connection is enough.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crmqa.sandbox.entities import CONTACT, ENTITIES, LEAD, EntitySpec
from crmqa.sandbox.faults import FaultSet

SQL_TYPES = {"int": "INTEGER", "ref": "INTEGER", "money": "REAL"}

USERS_TABLE = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until REAL,
    created_at TEXT NOT NULL
)"""


SQLITE_INTEGERS = range(-(2 ** 63), 2 ** 63)


def storable_id(value: int) -> bool:
    """Could SQLite hold this id? (A bigger number names no record; binding it would raise.)"""
    return value in SQLITE_INTEGERS


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds, e.g. 2025-01-31T12:00:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def search_key(record: dict[str, Any]) -> str:
    """What lead search looks into: full name, company and email, case-folded once at write time
    so that search is case-insensitive for every script (SQLite's LIKE folds ASCII only)."""
    full_name = f"{record.get('first_name') or ''} {record.get('last_name') or ''}"
    parts = [full_name, record.get("company") or "", record.get("email") or ""]
    return "\x1f".join(parts).casefold()


def local_naive(stamp: str) -> str:
    """A UTC stamp as a system that forgot the time zone writes it: 2025-01-31 12:00:00."""
    return stamp.replace("T", " ").removesuffix("Z")


def _match_without_email(search_text: str | None, needle: str) -> int:
    """The `search_misses_email` fault's matcher: the e-mail (the last part) is left out."""
    head = (search_text or "").rsplit("\x1f", 1)[0]
    return 1 if needle in head else 0


def raw_search_text(record: dict[str, Any]) -> str:
    full_name = f"{record.get('first_name') or ''} {record.get('last_name') or ''}"
    return "\x1f".join([full_name, record.get("company") or "", record.get("email") or ""])


@dataclass
class Page:
    """One page of a list: the records, the total across pages, and where the page is."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


class StatementResult:
    """The rows of one statement, read to the end (see `SerializedConnection`)."""

    def __init__(self, rows: list[sqlite3.Row], lastrowid: int | None, rowcount: int) -> None:
        self._rows = rows
        self.lastrowid = lastrowid
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[sqlite3.Row]:
        return self._rows

    def __iter__(self) -> Iterator[sqlite3.Row]:
        return iter(self._rows)


class SerializedConnection:
    """One SQLite connection shared by the event loop's thread and the thread pool's (sync
    dependencies): each statement runs and is read to the end under one lock.

    Two threads inside one connection deadlock as soon as a statement calls a Python function
    (`casefold` in every search): one thread holds the connection's mutex inside the statement
    and waits for the GIL, the other holds the GIL in a call that waits for the mutex. The
    sandbox then stops answering, and every run against it hangs."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.RLock()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> StatementResult:
        with self._lock:
            cursor = self._conn.execute(sql, params)
            return StatementResult(cursor.fetchall(), cursor.lastrowid, cursor.rowcount)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Store:
    """The sandbox database."""

    def __init__(self, db_path: Path | None, faults: FaultSet) -> None:
        self.faults = faults
        target = str(db_path) if db_path is not None else ":memory:"
        conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.create_function("match_without_email", 2, _match_without_email,
                             deterministic=True)
        # SQLite's lower() folds ASCII letters only; search folds every script (ж/Ж, é/É).
        conn.create_function("casefold", 1, _casefold, deterministic=True)
        self.conn = SerializedConnection(conn)
        self.conn.execute("PRAGMA foreign_keys = OFF")
        if db_path is not None:
            self.conn.execute("PRAGMA journal_mode = WAL")
        self.create_schema()

    # -- schema ------------------------------------------------------------------------------

    def create_schema(self) -> None:
        self.conn.execute(USERS_TABLE)
        for entity in ENTITIES.values():
            columns = [f"{spec.name} {SQL_TYPES.get(spec.kind, 'TEXT')}" for spec in entity.fields]
            extra = ["owner TEXT NOT NULL", "created_at TEXT NOT NULL", "updated_at TEXT NOT NULL"]
            if entity is LEAD:
                extra += ["email_key TEXT", "search_text TEXT NOT NULL DEFAULT ''",
                          "search_raw TEXT NOT NULL DEFAULT ''", "deleted_at TEXT"]
            self.conn.execute(
                f"CREATE TABLE IF NOT EXISTS {entity.plural} "
                # AUTOINCREMENT: a deleted record's id is never given to a new one, so that
                # nobody (a client, crmqa's clean-up) takes a new record for the deleted one.
                f"(id INTEGER PRIMARY KEY AUTOINCREMENT, {', '.join(columns + extra)})"
            )
        self.conn.execute("CREATE INDEX IF NOT EXISTS leads_owner ON leads (owner)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS leads_email_key ON leads (email_key)")

    def wipe(self) -> None:
        """Drop every row (used by the admin reset before reseeding)."""
        self.conn.execute("BEGIN")
        try:
            for table in ("users", *ENTITIES):
                self.conn.execute(f"DELETE FROM {table}")
            self.conn.execute("DELETE FROM sqlite_sequence") if self._has_sequence() else None
            self.conn.execute("COMMIT")
        except Exception:
            self.conn.execute("ROLLBACK")
            raise

    def _has_sequence(self) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone()
        return row is not None

    def is_empty(self) -> bool:
        return self.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0

    # -- users -------------------------------------------------------------------------------

    def user_by_name(self, username: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return dict(row) if row else None

    def user_by_id(self, user_id: int) -> dict[str, Any] | None:
        if not storable_id(user_id):
            return None
        row = self.conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return dict(row) if row else None

    def list_users(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.conn.execute("SELECT * FROM users ORDER BY id")]

    def insert_user(self, values: dict[str, Any]) -> dict[str, Any]:
        values = {**values, "created_at": values.get("created_at") or now_iso()}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self.conn.execute(f"INSERT INTO users ({names}) VALUES ({marks})",
                                   tuple(values.values()))
        return self.user_by_id(int(cursor.lastrowid or 0)) or {}

    def update_user(self, user_id: int, values: dict[str, Any]) -> None:
        if not values:
            return
        assignments = ", ".join(f"{name} = ?" for name in values)
        self.conn.execute(f"UPDATE users SET {assignments} WHERE id = ?",
                          (*values.values(), user_id))

    def delete_user(self, user_id: int) -> None:
        self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    # -- records -----------------------------------------------------------------------------

    def _public(self, entity: EntitySpec, row: sqlite3.Row) -> dict[str, Any]:
        record = dict(row)
        for hidden in ("email_key", "search_text", "search_raw", "deleted_at"):
            record.pop(hidden, None)
        ordered = {"id": record.pop("id")}
        for name in entity.field_names:
            ordered[name] = record.pop(name, None)
        ordered.update(record)  # owner, created_at, updated_at
        return ordered

    def _derived(self, entity: EntitySpec, record: dict[str, Any]) -> dict[str, Any]:
        if entity is not LEAD:
            return {}
        email = record.get("email")
        return {
            "email_key": email.casefold() if isinstance(email, str) else None,
            "search_text": search_key(record),
            "search_raw": raw_search_text(record),
        }

    def get(self, entity: EntitySpec, record_id: int) -> dict[str, Any] | None:
        """One live record by id (deleted leads are gone)."""
        if not storable_id(record_id):
            return None  # no such record: beyond what SQLite can store
        where = "id = ? AND deleted_at IS NULL" if entity is LEAD else "id = ?"
        row = self.conn.execute(f"SELECT * FROM {entity.plural} WHERE {where}",
                                (record_id,)).fetchone()
        return self._public(entity, row) if row else None

    def insert(self, entity: EntitySpec, values: dict[str, Any],
               created_at: str | None = None) -> dict[str, Any]:
        stamp = created_at or now_iso()
        if entity is CONTACT and created_at is None and self.faults.active(
                "contact_timestamps_no_zone"):
            stamp = local_naive(stamp)
        record = {name: values.get(name) for name in entity.field_names}
        record["owner"] = values["owner"]
        record["created_at"] = stamp
        record["updated_at"] = stamp
        record.update(self._derived(entity, record))
        names = ", ".join(record)
        marks = ", ".join("?" for _ in record)
        cursor = self.conn.execute(f"INSERT INTO {entity.plural} ({names}) VALUES ({marks})",
                                   tuple(record.values()))
        created = self.get(entity, int(cursor.lastrowid or 0))
        assert created is not None
        return created

    def update(self, entity: EntitySpec, record_id: int,
               changes: dict[str, Any]) -> dict[str, Any]:
        current = self.get(entity, record_id)
        if current is None:
            raise KeyError(record_id)
        stamp = now_iso()
        if entity is CONTACT and self.faults.active("contact_timestamps_no_zone"):
            stamp = local_naive(stamp)
        merged = {**current, **changes, "updated_at": stamp}
        columns = [*entity.field_names, "owner", "updated_at"]
        values = {name: merged.get(name) for name in columns}
        values.update(self._derived(entity, merged))
        assignments = ", ".join(f"{name} = ?" for name in values)
        self.conn.execute(f"UPDATE {entity.plural} SET {assignments} WHERE id = ?",
                          (*values.values(), record_id))
        updated = self.get(entity, record_id)
        assert updated is not None
        return updated

    def delete(self, entity: EntitySpec, record_id: int) -> None:
        if not storable_id(record_id):
            return
        if entity is LEAD:
            # Leads are soft-deleted, as CRMs keep them for audit; lists must hide them.
            self.conn.execute("UPDATE leads SET deleted_at = ? WHERE id = ?",
                              (now_iso(), record_id))
        else:
            self.conn.execute(f"DELETE FROM {entity.plural} WHERE id = ?", (record_id,))

    def lead_email_taken(self, email: str, except_id: int | None = None) -> bool:
        row = self.conn.execute(
            "SELECT id FROM leads WHERE email_key = ? AND deleted_at IS NULL AND id IS NOT ?",
            (email.casefold(), except_id),
        ).fetchone()
        return row is not None

    def search(
        self,
        entity: EntitySpec,
        *,
        scope_owner: str | None,
        q: str = "",
        filters: dict[str, str] | None = None,
        sort: tuple[str, bool] = ("created_at", True),
        page: int = 1,
        page_size: int = 20,
    ) -> Page:
        """Filter, sort and page records. `scope_owner` limits a sales user to their own."""
        where: list[str] = []
        params: list[Any] = []
        if entity is LEAD and not self.faults.active("delete_leaves_listed"):
            where.append("deleted_at IS NULL")
        if scope_owner is not None:
            where.append("owner = ?")
            params.append(scope_owner)
        for name, value in (filters or {}).items():
            if value:
                where.append(f"{name} = ?")
                params.append(value)
        if q:
            if entity is LEAD:
                if self.faults.active("sql_injection_search"):
                    # The defect: user text pasted straight into the statement.
                    where.append(f"search_text LIKE '%{q.casefold()}%'")
                elif self.faults.active("search_case_sensitive"):
                    where.append("instr(search_raw, ?) > 0")
                    params.append(q)
                elif self.faults.active("search_ascii_casefold"):
                    # The defect: SQL LIKE, which folds the case of ASCII letters only.
                    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    where.append("search_raw LIKE ? ESCAPE '\\'")
                    params.append(f"%{escaped}%")
                elif self.faults.active("search_misses_email"):
                    where.append("match_without_email(search_text, ?) = 1")
                    params.append(q.casefold())
                else:
                    where.append("instr(search_text, ?) > 0")
                    params.append(q.casefold())
            else:
                ors = " OR ".join(f"instr(casefold({name}), ?) > 0"
                                  for name in entity.search_fields)
                where.append(f"({ors})")
                params.extend([q.casefold()] * len(entity.search_fields))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        total = int(self.conn.execute(f"SELECT COUNT(*) FROM {entity.plural} {clause}",
                                      params).fetchone()[0])
        column, descending = sort
        direction = "DESC" if descending else "ASC"
        order = f"ORDER BY {column} COLLATE NOCASE {direction}, id {direction}"
        offset = (page - 1) * page_size
        rows = self.conn.execute(
            f"SELECT * FROM {entity.plural} {clause} {order} LIMIT ? OFFSET ?",
            [*params, page_size, offset],
        ).fetchall()
        return Page([self._public(entity, row) for row in rows], total, page, page_size)
