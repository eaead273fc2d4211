"""The reconciliation checks: each reads the workspace's tables and says what it saw.

A check returns `CheckResult`s (one per field where fields matter), a few figures for the
step's data (`save:` and body expectations can use them), and the files it wrote: every
differing row goes to a CSV in the run folder, and the first `sample_rows` of them are shown
in the evidence, so a reader sees which records differ and how.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmqa.core.results import CheckResult
from crmqa.migration.step import MigrationCheck
from crmqa.migration.tables import MigrationDataError, literal, quote
from crmqa.migration.workspace import Prepared, Workspace

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_PHONE = r"^\+?[0-9 ()\-./]{7,20}$"
# text a migration tends to damage: beyond ASCII (scripts, emoji), quotes, line breaks
_FRAGILE = r"[^\x00-\x7F]|['\"`]|\n|\r"


@dataclass
class Outcome:
    """What one check found."""

    checks: list[CheckResult] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    files: list[tuple[str, Path]] = field(default_factory=list)  # (title, CSV file)
    # (title, CSV text): the first `sample_rows` rows of each file, shown as a table
    samples: list[tuple[str, str]] = field(default_factory=list)


def run_check(space: Workspace, check: MigrationCheck) -> Outcome:
    """Run one `migrate:` check against the workspace."""
    handler = _HANDLERS[check.check]
    with space.progress.watching(f"{check.check} {check.entity}"):
        return handler(space, check)


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0


def _allowed(check: MigrationCheck, default: float = 0.0) -> float:
    return default if check.max_rate is None else check.max_rate


def _counted(name: str, bad: int, total: int, allowed: float, what: str) -> CheckResult:
    rate = _rate(bad, total)
    ok = rate <= allowed
    expected = "none" if allowed == 0 else f"at most {allowed:.2%} of {total}"
    actual = f"{bad} of {total}" + (f" ({rate:.2%})" if total else "")
    message = "" if ok else f"{name}: {bad} of {total} {what} ({rate:.2%}), allowed {expected}"
    return CheckResult(name=name, ok=ok, expected=expected, actual=actual, message=message)


def _fields(prepared: Prepared, check: MigrationCheck) -> list[str]:
    if check.fields is None:
        return prepared.fields
    unknown = [f for f in check.fields if f not in prepared.fields]
    if unknown:
        raise MigrationDataError(
            f"fields {', '.join(unknown)} are not compared for {prepared.entity} (compared: "
            f"{', '.join(prepared.fields)}): map them, and make sure the target has them")
    return check.fields


def _sample(space: Workspace, outcome: Outcome, title: str, query: str, file: str) -> None:
    """Keep every row of `query` as a CSV, and the first few as a readable table: read back
    from the file, so that the query (a scan of the data, a sort) runs once."""
    path = space.export(query, file)
    outcome.files.append((title, path))
    with path.open(encoding="utf-8", newline="") as written:
        first = list(itertools.islice(csv.reader(written), space.spec.sample_rows + 1))
    outcome.samples.append((title, csv_text(first)))


def csv_text(rows: list[Any]) -> str:
    """Rows as CSV text (a table Allure and summary.html show as one)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([["" if value is None else value for value in row] for row in rows])
    return out.getvalue()


def _row_counts(space: Workspace, check: MigrationCheck) -> Outcome:
    prepared = space.prepared(check.entity)
    ok = prepared.source_rows == prepared.target_rows
    return Outcome(
        checks=[CheckResult(
            name=f"{check.entity} rows", ok=ok, expected=prepared.source_rows,
            actual=prepared.target_rows,
            message="" if ok else (f"{check.entity} rows: {prepared.source_rows} in the source, "
                                   f"{prepared.target_rows} migrated"))],
        data={"source_rows": prepared.source_rows, "target_rows": prepared.target_rows},
    )


def _by_key(flag: str, what: str, file_part: str) -> Callable[[Workspace, MigrationCheck],
                                                              Outcome]:
    def check_keys(space: Workspace, check: MigrationCheck) -> Outcome:
        prepared = space.prepared(check.entity)
        diff = quote(f"reported_{check.entity}")
        if flag == "__missing":
            count, total = prepared.missing, prepared.source_rows
        else:
            count, total = prepared.unexpected, prepared.target_rows
        outcome = Outcome(
            checks=[_counted(f"{check.entity} {file_part} records", int(count), total,
                             _allowed(check), what)],
            data={"count": int(count), "total": total})
        if count:
            _sample(space, outcome, f"{file_part} {check.entity} records",
                    f"SELECT __key AS key, __source_key AS legacy_key FROM {diff} "
                    f"WHERE {flag} ORDER BY __key", f"{file_part}-{check.entity}.csv")
        return outcome
    return check_keys


def _field_check(name: str, condition: Callable[[str, str], str], what: str
                 ) -> Callable[[Workspace, MigrationCheck], Outcome]:
    """A per-field check over matched records: `condition(source, target)` says "bad"."""
    def check_fields(space: Workspace, check: MigrationCheck) -> Outcome:
        prepared = space.prepared(check.entity)
        diff = quote(f"reported_{check.entity}")
        matched = prepared.matched
        names = _fields(prepared, check)

        def differs(field_name: str) -> str:
            if name == "fields":
                return quote("d_" + field_name)
            return f"({condition(quote(f's_{field_name}'), quote(f't_{field_name}'))})"

        bad = {field_name: f"NOT __missing AND NOT __unexpected AND {differs(field_name)}"
               for field_name in names}
        counts = ([prepared.differing[field_name] for field_name in names]  # counted already
                  if name == "fields" else _counts(space, diff, list(bad.values())))
        outcome = Outcome(data={"matched": matched, "fields": {}})
        for field_name, count in zip(names, counts, strict=True):
            outcome.data["fields"][field_name] = count
            outcome.checks.append(_counted(f"{check.entity}.{field_name}", count, matched,
                                           _allowed(check), what))
            if count:
                _sample(space, outcome, f"{check.entity}.{field_name}: {what}",
                        f"SELECT __key AS key, __source_key AS legacy_key, "
                        f"{quote(f's_{field_name}')} AS expected, {quote(f't_{field_name}')} "
                        f"AS migrated FROM {diff} WHERE {bad[field_name]} ORDER BY __key",
                        f"{name}-{check.entity}-{field_name}.csv")
        return outcome
    return check_fields


def _counts(space: Workspace, table: str, conditions: list[str]) -> list[int]:
    """How many rows of `table` meet each condition: one scan for them all."""
    if not conditions:
        return []
    counted = ", ".join(f"count(*) FILTER (WHERE {condition})" for condition in conditions)
    return [int(count) for count in space.sql(f"SELECT {counted} FROM {table}")[0]]


def _duplicates(space: Workspace, check: MigrationCheck) -> Outcome:
    prepared = space.prepared(check.entity)
    outcome = Outcome()
    for side, table, total in (("migrated", f"tgt_{check.entity}", prepared.target_rows),
                               ("source", f"src_{check.entity}", prepared.source_rows)):
        query = (f"SELECT __key AS key, count(*) AS copies FROM {quote(table)} "
                 "WHERE __key IS NOT NULL GROUP BY __key HAVING count(*) > 1 ORDER BY key")
        (extra,) = space.sql(f"SELECT coalesce(sum(copies - 1), 0) FROM ({query})")[0]
        outcome.checks.append(_counted(f"{check.entity} {side} duplicates", int(extra), total,
                                       _allowed(check), "are extra copies of a record"))
        outcome.data[f"{side}_duplicates"] = int(extra)
        if extra:
            _sample(space, outcome, f"{side} {check.entity} records held more than once",
                    query, f"duplicates-{side}-{check.entity}.csv")
    return outcome


def _references(space: Workspace, check: MigrationCheck) -> Outcome:
    if not check.references:
        raise MigrationDataError("a `references` check names `references: {field: entity}`")
    prepared = space.prepared(check.entity)
    outcome = Outcome()
    for field_name, other in check.references.items():
        if field_name not in prepared.target_columns:
            raise MigrationDataError(f"the migrated {check.entity} records have no field "
                                     f"'{field_name}'")
        if "id" not in space.prepared(other).target_columns:
            raise MigrationDataError(f"the migrated {other} records have no `id` to refer to")
        target, referenced = quote(f"tgt_{check.entity}"), quote(f"tgt_{other}")
        column = quote(field_name)
        query = (f"SELECT t.__key AS key, t.{column} AS {column} FROM {target} t "
                 f"WHERE nullif(t.{column}, '') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                 f"{referenced} r WHERE r.{quote('id')} = t.{column})")
        (dangling,) = space.sql(f"SELECT count(*) FROM ({query})")[0]
        outcome.checks.append(_counted(f"{check.entity}.{field_name} -> {other}", int(dangling),
                                       prepared.target_rows, _allowed(check),
                                       f"name no migrated {other}"))
        if dangling:
            _sample(space, outcome, f"{check.entity}.{field_name} naming no {other}", query,
                    f"references-{check.entity}-{field_name}.csv")
    return outcome


def _required(space: Workspace, check: MigrationCheck) -> Outcome:
    prepared = space.prepared(check.entity)
    names = check.fields or space.required.get(check.entity, [])
    if not names:
        # imported here: the profile models are a heavy import that only this answer needs
        from crmqa.profiles.models import NoEquivalent

        raise NoEquivalent(f"the plan declares no required {check.entity} fields "
                           "(requirements) and the step names none (fields)")
    outcome = Outcome()
    target = quote(f"tgt_{check.entity}")
    for field_name in names:
        if field_name not in prepared.target_columns:
            raise MigrationDataError(f"the migrated {check.entity} records have no field "
                                     f"'{field_name}'")
    empty = {name: f"nullif(trim({quote(name)}), '') IS NULL" for name in names}
    for field_name, count in zip(names, _counts(space, target, list(empty.values())),
                                 strict=True):
        outcome.checks.append(_counted(f"{check.entity}.{field_name} filled", count,
                                       prepared.target_rows, _allowed(check), "are empty"))
        if count:
            _sample(space, outcome, f"{check.entity} records without {field_name}",
                    f"SELECT __key AS key FROM {target} WHERE {empty[field_name]} ORDER BY key",
                    f"required-{check.entity}-{field_name}.csv")
    return outcome


def _source_quality(space: Workspace, check: MigrationCheck) -> Outcome:
    """The data-quality report on the legacy extract: a report, unless `max_rate` is set."""
    columns = space.source_view(check.entity)
    rules = space.spec.quality.get(check.entity)
    if rules is None:
        raise MigrationDataError(f"migration.quality has no rules for '{check.entity}'")
    raw = quote(f"raw_{check.entity}")
    allowed = _allowed(check, default=1.0)
    tests: list[tuple[str, str, str]] = []
    for name in rules.email:
        tests.append((f"{name} e-mail", f"nullif(trim({quote(name)}), '') IS NOT NULL AND NOT "
                      f"regexp_matches(trim({quote(name)}), {literal(_EMAIL)})", "are not e-mails"))
    for name in rules.phone:
        tests.append((f"{name} phone", f"nullif(trim({quote(name)}), '') IS NOT NULL AND NOT "
                      f"regexp_matches(trim({quote(name)}), {literal(_PHONE)})", "are not phones"))
    for name in rules.required:
        tests.append((f"{name} filled", f"nullif(trim({quote(name)}), '') IS NULL",
                      "are empty"))
    for name, _, _ in tests:
        column_name = name.split(" ")[0]
        if column_name not in columns:
            raise MigrationDataError(f"migration.quality.{check.entity}: the source has no "
                                     f"column '{column_name}'")
    # the rows, and those failing each rule, in one scan of the extract
    total, *counts = _counts(space, raw, ["true", *(condition for _, condition, _ in tests)])
    outcome = Outcome(data={"rows": total})
    for (name, condition, what), count in zip(tests, counts, strict=True):
        outcome.checks.append(_counted(name, count, total, allowed, what))
        if count:
            _sample(space, outcome, f"legacy {check.entity} rows whose {name} {what[4:]}",
                    f"SELECT * FROM {raw} WHERE {condition}",
                    f"quality-{check.entity}-{_slug(name)}.csv")
    for group in rules.duplicates:
        names = [group] if isinstance(group, str) else list(group)
        labels = ", ".join(f"lower(trim({quote(n)})) AS {quote(n)}" for n in names)
        present = " AND ".join(f"nullif(trim({quote(n)}), '') IS NOT NULL" for n in names)
        query = (f"SELECT {labels}, count(*) AS copies FROM {raw} WHERE {present} "
                 "GROUP BY ALL HAVING count(*) > 1")
        (extra,) = space.sql(f"SELECT coalesce(sum(copies - 1), 0) FROM ({query})")[0]
        title = f"duplicate people by {' + '.join(names)}"
        outcome.checks.append(_counted(title, int(extra), total, allowed, "are duplicates"))
        if extra:
            _sample(space, outcome, title, query,
                    f"quality-{check.entity}-duplicates-{_slug('-'.join(names))}.csv")
    return outcome


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _fragile(source: str, target: str) -> str:
    return (f"regexp_matches(coalesce({source}, ''), {literal(_FRAGILE)}) AND "
            f"coalesce({source}, '') <> coalesce({target}, '')")


def _truncated(source: str, target: str) -> str:
    return (f"length(coalesce({target}, '')) > 0 AND length({target}) < length({source}) AND "
            f"starts_with({source}, {target})")


def _imprecise(source: str, target: str) -> str:
    # the same number or moment, less precisely: a rounded amount, a lost time of day, an
    # instant shifted by whole hours (a time zone applied twice, or not at all)
    return (f"(try_cast({source} AS DOUBLE) IS NOT NULL AND try_cast({target} AS DOUBLE) IS NOT"
            f" NULL AND try_cast({source} AS DOUBLE) <> try_cast({target} AS DOUBLE) AND "
            f"abs(try_cast({source} AS DOUBLE) - try_cast({target} AS DOUBLE)) < 1) OR "
            f"(try_cast({source} AS TIMESTAMP) IS NOT NULL AND try_cast({target} AS TIMESTAMP) "
            f"IS NOT NULL AND try_cast({source} AS TIMESTAMP) <> try_cast({target} AS TIMESTAMP)"
            f" AND date_diff('minute', try_cast({source} AS TIMESTAMP), try_cast({target} AS "
            f"TIMESTAMP)) % 60 = 0)")


_HANDLERS: dict[str, Callable[[Workspace, MigrationCheck], Outcome]] = {
    "row_counts": _row_counts,
    "missing": _by_key("__missing", "were not migrated", "missing"),
    "unexpected": _by_key("__unexpected", "are not in the source", "unexpected"),
    "fields": _field_check("fields", lambda s, t: "true", "differ from the mapped source"),
    "text_roundtrip": _field_check("text_roundtrip", _fragile,
                                   "have non-ASCII text, quotes or line breaks changed"),
    "truncation": _field_check("truncation", _truncated, "were cut short"),
    "precision": _field_check("precision", _imprecise,
                              "lost precision (a rounded number, a shifted time)"),
    "duplicates": _duplicates,
    "references": _references,
    "required": _required,
    "source_quality": _source_quality,
}
