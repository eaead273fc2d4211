"""What the migration driver checks before anything runs: the section, the files, the columns.

A `migrate:` step needs the plan's `migration:` section to know its entity; the source and
target files must exist and be readable, and every column the mapping and the keys name must
be there. Reading a file's columns is cheap (DuckDB samples the head); each file is read once
per validation.

A database side is asked for its columns (no rows) when its server answers: a wrong table,
column or SQL is then a plan problem here, before the run. A server that is down or refuses
the login is not the plan's fault: validation leaves it to the run, which reports it as an
environment problem.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path

import duckdb

from crmqa.drivers.base import StepCheckContext, StepProblem
from crmqa.migration import databases
from crmqa.migration.databases import MigrationEnvironmentError, Selection
from crmqa.migration.driver import plan_migration
from crmqa.migration.mapping import field_sql
from crmqa.migration.spec import DatabaseConnection, MigrationSpec
from crmqa.migration.step import MigrateStep
from crmqa.migration.tables import MigrationDataError, file_format, relation
from crmqa.plan.files import find_data_file, missing_file_message, search_folders


def check_migrate_step(step: object, context: StepCheckContext) -> list[StepProblem]:
    """Problems with a `migrate:` step on this plan, found without a CRM."""
    if not isinstance(step, MigrateStep):
        return []
    spec = plan_migration(context.plan)
    entity = step.migrate.entity
    where = ("migrate", "entity")
    if spec is None:
        return [StepProblem("a migrate step needs the plan's `migration:` section (source, "
                            "target and mapping)", where)]
    if entity not in spec.source or entity not in spec.target:
        known = sorted(set(spec.source) & set(spec.target))
        return [StepProblem(f"the plan's migration section has no source and target for "
                            f"'{entity}' (it has: {', '.join(known) or 'none'})", where)]
    try:
        columns = _columns(spec, entity, context.base_dir, "source")
        if columns is None:  # the database cannot be asked now: the run will say why
            return []
        mapping = spec.mapping.get(entity, {})
        for name, field_spec in mapping.items():
            field_sql(name, field_spec, columns, context.base_dir, f"migration.mapping.{entity}")
        for key in spec.source[entity].keys:
            if key not in columns:
                raise MigrationDataError(f"migration.source.{entity}.key: the source has no "
                                         f"column '{key}' (columns: {', '.join(columns)})")
        if spec.target[entity].from_ is None:
            _columns(spec, entity, context.base_dir, "target")
        unknown = [f for f in step.migrate.fields or [] if f not in mapping]
        if unknown:
            raise MigrationDataError(f"fields {', '.join(unknown)} are not in the mapping of "
                                     f"{entity}")
    except MigrationDataError as error:
        return [StepProblem(str(error), where)]
    return []


def _columns(spec: MigrationSpec, entity: str, base_dir: Path, side: str) -> list[str] | None:
    """The columns of one side's extract; None when its database cannot be reached."""
    table = spec.source[entity] if side == "source" else spec.target[entity]
    if table.database is not None:
        connection = table.database
        # every migrate step of the plan asks: the server is asked once (a down one too,
        # which would otherwise cost a connect timeout per step)
        credentials = tuple(os.environ.get(name or "") for name in (
            connection.url_env, connection.user_env, connection.password_env))
        found = _database_columns(connection.model_dump_json(), table.table, table.sql,
                                  f"migration.{side}.{entity}", credentials)
        return None if found is None else list(found)
    assert table.file is not None
    folders = search_folders(base_dir)
    path = find_data_file(table.file, folders)
    if path is None:
        raise MigrationDataError(f"migration.{side}.{entity}: "
                                 f"{missing_file_message(table.file, folders)}")
    return list(_read_columns(path, path.stat().st_mtime_ns, file_format(path, table.format),
                              table.table, table.encoding, table.delimiter))


@cache
def _database_columns(connection: str, table: str | None, sql: str | None, where: str,
                      _credentials: tuple[str | None, ...]) -> tuple[str, ...] | None:
    """The columns a database side has; None when the server cannot be asked now."""
    try:
        return tuple(databases.columns(DatabaseConnection.model_validate_json(connection),
                                       Selection(table, sql), where))
    except MigrationEnvironmentError:
        return None


@cache
def _read_columns(path: Path, _mtime: int, fmt: str, table: str | None, encoding: str,
                  delimiter: str | None) -> tuple[str, ...]:
    con = duckdb.connect()
    try:
        with tempfile.TemporaryDirectory(prefix="crmqa-probe-") as spool_dir:
            return tuple(relation(con, "probe", path, fmt, spool_dir=Path(spool_dir),
                                  table=table, encoding=encoding, delimiter=delimiter))
    finally:
        con.close()
