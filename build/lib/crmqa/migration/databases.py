"""Reading a table (or a query) of a PostgreSQL or MySQL/MariaDB database, in bounded memory.

DuckDB's own postgres and mysql scanners are extensions downloaded at run time, which this
machine and many enterprise networks do not allow; so the rows come through the ordinary
Python drivers (psycopg 3, PyMySQL), from a server-side cursor, a batch at a time, into a
Parquet file that DuckDB then reads out of core like any other extract. Whatever the table's
size, Python holds one batch.

Every value is read as the server's own text form (PostgreSQL casts each column to text;
PyMySQL is given no converters), as the files are: the mapping decides what a value means.

Who is at fault is kept apart, because a verdict depends on it:
- the server is down, refuses the login, or the user may not read the table: an environment
  problem (`MigrationEnvironmentError`, an `EnvironmentProblem`): no product verdict;
- the table, a column or the plan's SQL is wrong: a plan problem (`MigrationDataError`), found
  by validation before the run where the server answers then.
Credentials come from environment variables only, and never appear in a message: every text
taken from a driver's error is scrubbed of the user name, the password and the URL.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from crmqa.core.errors import EnvironmentProblem
from crmqa.migration.spec import DatabaseConnection
from crmqa.migration.tables import MigrationDataError, spool

BATCH = 50_000  # rows per fetch and per Parquet row group
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
_DRIVERS = {"postgresql": ("psycopg", "psycopg[binary]"), "mysql": ("pymysql", "pymysql")}


class MigrationEnvironmentError(EnvironmentProblem):
    """A database cannot be used: down, refusing the login, or not letting the user read."""


@dataclass(frozen=True)
class Login:
    """Where to connect and as whom, resolved from the environment (never printed)."""

    engine: str  # postgresql or mysql
    host: str
    port: int
    name: str | None
    user: str | None
    password: str | None
    url: str | None
    timeout: int

    @property
    def where(self) -> str:
        """The server as a message may name it: engine, host, port and database only."""
        return f"{self.engine} {self.host}:{self.port}" + (f"/{self.name}" if self.name else "")

    def scrub(self, text: str) -> str:
        """A driver's message without anything secret in it."""
        for secret in (self.url, self.password, self.user):
            if secret:
                text = text.replace(secret, "***")
        return " ".join(text.split())


def login(database: DatabaseConnection, where: str) -> Login:
    """The connection the plan describes, with credentials from the environment."""
    engine = "mysql" if database.engine == "mariadb" else database.engine
    unset = [name for name in (database.url_env, database.user_env, database.password_env)
             if name and not os.environ.get(name)]
    if unset:
        raise MigrationEnvironmentError(
            f"{where}: the environment variable{'s' if len(unset) > 1 else ''} "
            f"{', '.join(unset)} {'are' if len(unset) > 1 else 'is'} not set (the database's "
            "credentials)")
    if database.url_env:
        url = os.environ[database.url_env]
        parts = urlsplit(url)
        try:
            port = parts.port or _DEFAULT_PORTS[engine]
        except ValueError:
            raise MigrationEnvironmentError(
                f"{where}: the URL in {database.url_env} has no valid port") from None
        if not parts.hostname:
            raise MigrationEnvironmentError(
                f"{where}: the URL in {database.url_env} names no host "
                f"({engine}://user:password@host:port/name)")
        return Login(engine, parts.hostname, port, unquote(parts.path.lstrip("/")) or None,
                     unquote(parts.username) if parts.username else None,
                     unquote(parts.password) if parts.password else None, url,
                     database.connect_timeout)
    assert database.host is not None
    return Login(engine, database.host, database.port or _DEFAULT_PORTS[engine], database.name,
                 os.environ.get(database.user_env) if database.user_env else None,
                 os.environ.get(database.password_env) if database.password_env else None,
                 None, database.connect_timeout)


@dataclass(frozen=True)
class Selection:
    """What is read: a table (`schema.table` allowed) or the plan's own SELECT."""

    table: str | None
    sql: str | None

    def describe(self) -> str:
        return f"table '{self.table}'" if self.table else "the plan's sql"


def columns(database: DatabaseConnection, selection: Selection, where: str) -> list[str]:
    """The column names of the selection, read without reading its rows."""
    access = login(database, where)
    with _connected(access, where) as connection:
        return _columns(access, connection, selection, where)


def extract(database: DatabaseConnection, selection: Selection, path: Path,
            where: str) -> list[str]:
    """Every row of the selection into a Parquet file of text columns; its column names."""
    access = login(database, where)
    with _connected(access, where) as connection:
        names = _columns(access, connection, selection, where)
        text = _as_text(access.engine, names, _source(access.engine, selection))
        try:
            if access.engine == "postgresql":
                rows = _postgres_rows(connection, text)
            else:
                rows = _mysql_rows(connection, text)
            spool(names, rows, path)
        except MigrationDataError:
            raise
        except Exception as error:
            raise _classified(access, error, where, selection) from None
    return names


# --------------------------------------------------------------------------- drivers


def _driver(engine: str, where: str) -> Any:
    module, package = _DRIVERS[engine]
    try:
        return __import__(module)
    except ImportError:
        raise MigrationEnvironmentError(
            f"{where}: reading {engine} needs the Python package {package} "
            "(pip install 'crmqa[db]')") from None


@contextmanager
def _connected(access: Login, where: str) -> Iterator[Any]:
    driver = _driver(access.engine, where)
    try:
        if access.engine == "postgresql":
            # the URL as given (it may carry sslmode and other options), else the parts
            connection = driver.connect(
                access.url, connect_timeout=access.timeout, autocommit=False
            ) if access.url else driver.connect(
                host=access.host, port=access.port, dbname=access.name, user=access.user,
                password=access.password, connect_timeout=access.timeout, autocommit=False)
            connection.read_only = True
        else:
            # the encoders only (keys that are types): without decoders every value comes
            # back as the server's text
            encoders = {k: v for k, v in driver.converters.conversions.items()
                        if not isinstance(k, int)}
            connection = driver.connect(
                host=access.host, port=access.port, database=access.name, user=access.user,
                password=access.password or "", connect_timeout=access.timeout,
                charset="utf8mb4", conv=encoders, cursorclass=driver.cursors.SSCursor)
    except Exception as error:
        # cannot reach or log in: never the plan's fault that crmqa could tell
        raise MigrationEnvironmentError(
            f"{where}: cannot connect to {access.where}: "
            f"{access.scrub(_first_line(error))}") from None
    try:
        yield connection
    finally:
        with suppress(Exception):  # closing a broken connection says nothing more
            connection.close()


def _source(engine: str, selection: Selection) -> str:
    if selection.sql is not None:
        return f"({selection.sql.strip().rstrip(';')}) AS crmqa_source"
    assert selection.table is not None
    return ".".join(_quote(engine, part) for part in selection.table.split(".", 1))


def _quote(engine: str, name: str) -> str:
    if engine == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def _as_text(engine: str, names: Sequence[str], source: str) -> str:
    if engine == "postgresql":
        # the server's own text form of every type (numeric, timestamptz, boolean, json)
        listed = ", ".join(f"{_quote(engine, n)}::text AS {_quote(engine, n)}" for n in names)
        return f"SELECT {listed} FROM {source}"
    return f"SELECT * FROM {source}"


def _columns(access: Login, connection: Any, selection: Selection, where: str) -> list[str]:
    query = f"SELECT * FROM {_source(access.engine, selection)} LIMIT 0"
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(query)
            names = [str(column[0]) for column in cursor.description or ()]
            if access.engine == "mysql":
                cursor.fetchall()
        finally:
            cursor.close()
    except Exception as error:
        raise _classified(access, error, where, selection, connection) from None
    finally:
        if access.engine == "postgresql":
            connection.rollback()
    return names


def _postgres_rows(connection: Any, query: str) -> Iterator[Sequence[Any]]:
    # a named cursor is a server-side cursor: the server keeps the result, we fetch batches
    with connection.cursor(name="crmqa_extract") as cursor:
        cursor.itersize = BATCH
        cursor.execute(query)
        while batch := cursor.fetchmany(BATCH):
            yield from batch
    connection.rollback()


def _mysql_rows(connection: Any, query: str) -> Iterator[Sequence[Any]]:
    # SSCursor streams the result from the server instead of buffering it whole
    cursor = connection.cursor()
    try:
        cursor.execute(query)
        while batch := cursor.fetchmany(BATCH):
            yield from (tuple(_text(value) for value in row) for row in batch)
    finally:
        cursor.close()


def _text(value: Any) -> Any:
    # PyMySQL without converters gives text as str and binary columns as bytes
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value


# --------------------------------------------------------------------------- whose fault


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _classified(access: Login, error: Exception, where: str, selection: Selection,
                connection: Any = None) -> Exception:
    """A driver's error as a plan problem (the names or the SQL) or an environment one."""
    message = access.scrub(_first_line(error))
    if _is_plan_mistake(access.engine, error):
        hint = _suggest(access, connection, selection) if connection is not None else ""
        return MigrationDataError(f"{where}: {access.where} cannot read "
                                  f"{selection.describe()}: {message}{hint}")
    return MigrationEnvironmentError(f"{where}: reading {selection.describe()} from "
                                     f"{access.where} failed: {message}")


def _is_plan_mistake(engine: str, error: Exception) -> bool:
    if engine == "postgresql":
        state = getattr(error, "sqlstate", None) or ""
        # class 42: syntax error or access rule violation; 42501 is a missing grant
        return state.startswith("42") and state != "42501"
    # PyMySQL: no such table (1146), unknown column (1054), SQL syntax (1064), ...
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    return type(error).__name__ == "ProgrammingError" or code in (1054, 1146, 1064)


def _suggest(access: Login, connection: Any, selection: Selection) -> str:
    """" (did you mean 'leads'?)" for a table name close to one the database has."""
    if selection.table is None:
        return ""
    schema = selection.table.rpartition(".")[0]
    if access.engine == "postgresql":
        connection.rollback()
        query = ("SELECT table_schema, table_name FROM information_schema.tables "
                 "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
    else:
        query = ("SELECT table_schema, table_name FROM information_schema.tables "
                 "WHERE table_schema = database()")
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(query)
            known = [(str(s), str(t)) for s, t in cursor.fetchall()]
        finally:
            cursor.close()
    except Exception:  # a suggestion is a courtesy: without it the message still says what
        return ""
    names = [f"{s}.{t}" if schema or s not in ("public", access.name) else t for s, t in known]
    close = difflib.get_close_matches(selection.table, names, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (tables: {', '.join(sorted(names)[:20])})" if names else ""
