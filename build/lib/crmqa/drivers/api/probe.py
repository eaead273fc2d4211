"""Probe a profile against a live target: does each canonical operation do what it says?

Before a plan runs, `crmqa probe` logs in with each identity and runs each operation the
profile declares once, on a throw-away record it creates and removes (also after a failure
and on Ctrl-C). Each operation ends in one verdict:

- works:            the answer has the shape the profile describes, and what was written
                    reads back;
- unexpected shape: the CRM answered, but not where or how the profile says (no list at
                    `items_path`, no id, a field that does not read back);
- refused:          the CRM said no (a 4xx or 5xx), with the field errors it gave;
- not in the profile: the profile does not declare it (cases needing it are not applicable);
- not probed:       the target does not allow changes (`destructive_ok: false`), or what it
                    needs (the throw-away record) could not be made.

Every verdict but "works" carries the evidence (redacted requests and answers) and a hint
naming the profile key to look at, with its place in the profile file. The probe never
deletes what it did not create.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from crmqa.core.errors import CrmqaError, EnvironmentProblem
from crmqa.drivers.api.driver import ApiDriver
from crmqa.drivers.api.operations import CONVERT_CREATES, OperationError
from crmqa.drivers.api.session import Exchange
from crmqa.plan.canonical import ENTITIES, FIELDS, OPERATIONS
from crmqa.profiles.adapter import OperationCall, OperationResult
from crmqa.profiles.models import EntitySpec, NoEquivalent, Profile
from crmqa.profiles.target import ANONYMOUS
from crmqa.profiles.templates import render_value

WORKS = "works"
UNEXPECTED = "unexpected shape"
REFUSED = "refused"
MISSING = "not in the profile"
NOT_PROBED = "not probed"

_COLLECTION_OPS = ("create", "list", "search", "import", "export")
# The field that singles the throw-away record out, per entity (it holds the probe's token).
_LABEL_FIELD = {"lead": "last_name", "contact": "last_name", "account": "name",
                "opportunity": "name", "case": "subject", "user": "username", "role": "name"}


def default_data(entity: str, token: str) -> dict[str, Any]:
    """Canonical values for a throw-away record of `entity`. Every text names the entity and
    holds `token`, so that records of two entities never collide (a lead's conversion makes a
    contact with the lead's e-mail and an account with its company)."""
    person = {"first_name": "Probe", "last_name": f"Crmqa{entity.capitalize()}{token}",
              "email": f"crmqa-probe-{entity}-{token}@example.com"}
    label = f"crmqa probe {entity} {token}"
    return {
        "lead": {**person, "company": f"crmqa probe company {token}"},
        "contact": person,
        "account": {"name": label},
        "opportunity": {"name": label},
        "case": {"subject": label},
        "user": {"username": f"crmqaprobe{token}", "email": person["email"],
                 "first_name": "Probe", "last_name": person["last_name"]},
        "role": {"name": f"crmqaprobe{token}", "description": label},
    }.get(entity, {})


def default_change(entity: str, token: str) -> dict[str, Any]:
    """The change the probe's update makes (as unique as the record's own values)."""
    label = f"crmqa probe {entity} {token} (updated)"
    return {
        "lead": {"company": f"crmqa probe company {token} (updated)"},
        "contact": {"last_name": f"Crmqa{entity.capitalize()}{token}x"},
        "account": {"name": label},
        "opportunity": {"name": label},
        "case": {"subject": label},
        "user": {"email": f"crmqa-probe-{entity}-{token}-2@example.com"},
        "role": {"description": label},
    }.get(entity, {})


@dataclass
class ProbeRow:
    """One line of the probe's table: an operation (or a login) and what became of it."""

    subject: str  # "lead.create", "login as admin"
    verdict: str
    detail: str = ""
    hint: str | None = None
    summary: str = ""  # "POST /api/leads -> 201", the last request
    evidence: list[str] = field(default_factory=list)  # redacted exchanges, for the report
    needed: bool = False  # the plan's cases use it

    @property
    def blocks(self) -> bool:
        """True when the plan needs this and it does not work."""
        return self.needed and self.verdict in (UNEXPECTED, REFUSED)


@dataclass
class ProbeReport:
    """What the probe found on one target."""

    target: str
    profile: str
    destructive_ok: bool
    rows: list[ProbeRow] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def fit(self) -> bool:
        """True when every login and operation the plan needs works and nothing stayed."""
        return not self.interrupted and not self.leftovers and not any(
            row.blocks for row in self.rows)


class _Outcome(Exception):
    """Internal: one probed operation ended other than `works`."""

    def __init__(self, verdict: str, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.verdict = verdict
        self.detail = detail
        self.hint = hint


@dataclass
class _Made:
    entity: str
    record_id: Any
    deleted: bool = False


class Prober:
    """Runs the probe; `report` fills up as it goes (so an interruption still shows it)."""

    def __init__(self, driver: ApiDriver, *, needed_operations: Iterable[str] = (),
                 needed_identities: Iterable[str] = (),
                 on_row: Callable[[ProbeRow], None] | None = None) -> None:
        self.driver = driver
        self.profile: Profile = driver.profile
        self.target = driver.target
        self.needed_operations = set(needed_operations)
        self.needed_identities = set(needed_identities)
        self.identity = self.target.default_identity
        self.cleaner = self.target.admin_identity
        self.token = secrets.token_hex(3)
        self.on_row = on_row
        self.made: list[_Made] = []
        self._exchanges: list[Exchange] = []
        self.report = ProbeReport(target=self.target.name, profile=self.profile.name,
                                  destructive_ok=self.target.target.destructive_ok)

    # ------------------------------------------------------------------ running

    def run(self) -> ProbeReport:
        """Probe everything; the throw-away records are removed whatever happens."""
        try:
            self._health()
            self._logins()
            for entity in ENTITIES:
                self._entity(entity)
        except KeyboardInterrupt:
            self.report.interrupted = True
            raise
        finally:
            self._clean_up()
        return self.report

    def _add(self, row: ProbeRow) -> None:
        self.report.rows.append(row)
        if self.on_row is not None:
            self.on_row(row)

    def _health(self) -> None:
        if not self.profile.health_path:
            return
        session = self.driver.session(ANONYMOUS)
        exchanges: list[Exchange] = []
        session.sink = exchanges.append
        try:
            exchange = session.send("GET", self.profile.health_path, authenticate=False)
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(f"the target does not answer: {exc}") from None
        finally:
            session.sink = None
        ok = exchange.status is not None and 200 <= exchange.status < 300
        self._add(ProbeRow(
            "health check", WORKS if ok else REFUSED,
            "" if ok else f"answered {exchange.status}",
            None if ok else self._hint(("health_path",), "a cheap GET that answers 2xx"),
            exchange.summary(), [] if ok else [e.render() for e in exchanges], needed=True))

    def _logins(self) -> None:
        for name in self.target.identities:
            if name == ANONYMOUS or self.profile.auth.scheme == "none":
                continue
            self._exchanges = []
            row = ProbeRow(f"login as {name}", WORKS, needed=name in self.needed_identities)
            try:
                session = self.driver.session(name)
                session.sink = self._exchanges.append
                try:
                    if session.before_send is not None:
                        session.before_send(session)  # a login endpoint or form
                    else:
                        row.detail = self._static_credentials(name)
                finally:
                    session.sink = None
            except _Outcome as outcome:
                row.verdict, row.detail, row.hint = outcome.verdict, outcome.detail, outcome.hint
            except EnvironmentProblem as exc:
                if self._exchanges and self._exchanges[-1].response is None:
                    raise  # the target is gone
                row.verdict, row.detail, row.hint = REFUSED, str(exc), self._auth_hint()
            if self._exchanges:
                row.summary = self._exchanges[-1].summary()
                if row.verdict != WORKS:
                    row.evidence = [exchange.render() for exchange in self._exchanges]
            self._add(row)

    def _static_credentials(self, identity: str) -> str:
        """Credentials sent with every request (basic, bearer, API key) prove themselves on
        the first call: list one record of the first entity that can be listed."""
        for entity, spec in self.profile.entities.items():
            if "list" in spec.operations and not self.profile.unsupported_reason(entity):
                args = {"page_size": 1} if spec.list_.pagination.size_param else {}
                result = self._perform(entity, "list", args, identity)
                if result.outcome == "unauthorized":
                    raise _Outcome(REFUSED, f"{entity}.list as {identity} answered "
                                   f"unauthorized (HTTP {result.status})", self._auth_hint())
                return f"{entity}.list as {identity} answered {result.outcome}"
        return "credentials are sent with each request (no list to try them on)"

    # ------------------------------------------------------------------ one entity

    def _entity(self, name: str) -> None:
        spec = self.profile.entities.get(name)
        declared = set(spec.operations) if spec is not None else set()
        for op in OPERATIONS:
            needed = f"{name}.{op}" in self.needed_operations
            if op not in declared and needed:
                reason = self.profile.unsupported_reason(f"{name}.{op}")
                self._add(ProbeRow(f"{name}.{op}", MISSING, reason or
                                   "cases that use it are not applicable", needed=False))
        if spec is None or self.profile.unsupported_reason(name):
            return
        record_id = None
        written: dict[str, Any] = {}
        destructive = self.target.target.destructive_ok
        if "create" in declared:
            if destructive:
                written = self._data(name, spec, "create", default_data(name, self.token))
                record_id = self._step(name, "create", lambda: self._create(name, spec, written))
            else:
                self._not_probed(name, "create")
        if "get" in declared:
            if record_id is None:
                record_id = self._listed_id(name, spec)
                written = {}
            if record_id is None:
                self._not_probed(name, "get", "needs a record: none could be made or listed")
            else:
                self._step(name, "get", lambda: self._get(name, spec, record_id, written))
        if "update" in declared:
            if not destructive:
                self._not_probed(name, "update")
            elif not self._mine(name, record_id):
                self._not_probed(name, "update", "needs the throw-away record, which could "
                                 "not be made")
            else:
                change = self._data(name, spec, "update", default_change(name, self.token))
                if self._step(name, "update",
                              lambda: self._update(name, spec, record_id, change)):
                    written.update(change)
        for op in ("list", "search", "export"):
            if op in declared:
                self._step(name, op, partial(self._listing, name, spec, op, record_id,
                                             written))
        if "import" in declared:
            if destructive:
                data = self._data(name, spec, "create", default_data(name, self.token + "i"))
                self._step(name, "import", lambda: self._import(name, spec, data))
            else:
                self._not_probed(name, "import")
        if "convert" in declared:
            if not destructive:
                self._not_probed(name, "convert")
            elif not self._mine(name, record_id):
                self._not_probed(name, "convert", "needs the throw-away record, which could "
                                 "not be made")
            else:
                self._step(name, "convert", lambda: self._convert(name, spec, record_id))
        if "delete" in declared:
            if not destructive:
                self._not_probed(name, "delete")
            elif not self._mine(name, record_id):
                self._not_probed(name, "delete", "needs the throw-away record, which could "
                                 "not be made")
            else:
                self._step(name, "delete", lambda: self._delete(name, spec, record_id))

    def _mine(self, entity: str, record_id: Any) -> bool:
        return record_id is not None and any(
            made.entity == entity and made.record_id == record_id for made in self.made)

    def _not_probed(self, entity: str, op: str, why: str | None = None) -> None:
        detail = why or (f"target '{self.target.name}' has destructive_ok: false; set it to "
                         "true to let the probe create and remove a throw-away record")
        needed = f"{entity}.{op}" in self.needed_operations and (
            why is not None or self.target.target.destructive_ok)
        self._add(ProbeRow(f"{entity}.{op}", NOT_PROBED, detail, needed=needed))

    def _data(self, entity: str, spec: EntitySpec, kind: str,
              default: dict[str, Any]) -> dict[str, Any]:
        """The probe's data, from the profile's `probe:` section or the defaults, without
        fields the product has no equivalent for."""
        given = self.profile.probe.get(entity)
        chosen = getattr(given, kind, None) if given is not None else None
        data = dict(default if chosen is None else chosen)
        data = render_value(data, {**self._session_context(), "unique": self.token},
                            f"probe.{entity}.{kind}")
        return {key: value for key, value in data.items() if spec.has_equivalent(key)}

    def _session_context(self) -> dict[str, Any]:
        return dict(self.driver.session(self.identity).template_context)

    def _step(self, entity: str, op: str, action: Callable[[], Any]) -> Any:
        """Run one probed operation and add its row; returns what the action returns."""
        self._exchanges = []
        row = ProbeRow(f"{entity}.{op}", WORKS, needed=f"{entity}.{op}" in
                       self.needed_operations)
        value = None
        try:
            value = action()
        except _Outcome as outcome:
            row.verdict, row.detail, row.hint = outcome.verdict, outcome.detail, outcome.hint
        except NoEquivalent as exc:
            row.verdict, row.detail = NOT_PROBED, str(exc)
        except OperationError as exc:
            row.verdict, row.detail = UNEXPECTED, str(exc)
            row.hint = self._hint(("entities", entity, "operations", op), "")
        except EnvironmentProblem as exc:
            if not self._exchanges or self._exchanges[-1].response is None:
                raise  # the target is gone: nothing more can be probed
            row.verdict, row.detail = UNEXPECTED, str(exc)
            row.hint = self._shape_hint(entity, op, str(exc))
        except CrmqaError as exc:  # a profile template that fails, an adapter's error
            row.verdict, row.detail = UNEXPECTED, str(exc)
        if self._exchanges:
            # The operation's own request: a read after a write, or a check after a delete,
            # comes later.
            row.summary = self._exchanges[0].summary()
            if row.verdict != WORKS:
                row.evidence = [exchange.render() for exchange in self._exchanges]
        self._add(row)
        return value

    def _perform(self, entity: str, op: str, args: dict[str, Any],
                 identity: str | None = None) -> OperationResult:
        who = identity or self.identity
        session = self.driver.session(who)
        session.sink = self._exchanges.append
        try:
            return self.driver.perform(OperationCall(entity, op, args, who), session)
        finally:
            session.sink = None

    # ------------------------------------------------------------------ operations

    def _require_ok(self, entity: str, op: str, result: OperationResult,
                    sent: dict[str, Any] | None = None) -> None:
        if result.outcome == "ok":
            return
        errors = "; ".join(f"{name}: {', '.join(messages)}"
                           for name, messages in result.field_errors.items())
        message = result.extra.get("message")
        detail = f"answered {result.outcome} (HTTP {result.status})"
        if errors:
            detail += f", field errors {errors}"
        elif message:
            detail += f": {message}"
        raise _Outcome(REFUSED, detail, self._refusal_hint(entity, op, result, sent or {}))

    def _create(self, entity: str, spec: EntitySpec, data: dict[str, Any]) -> Any:
        result = self._perform(entity, "create", {"data": data})
        self._require_ok(entity, "create", result, data)
        for record_id in result.created_ids:
            self.made.append(_Made(entity, record_id))
        if not result.created_ids:
            # Created all the same: find it by the probe's token so that it does not stay.
            self._find_and_track(entity, data)
            op = spec.operation("create")
            key = "id_path" if op.id_path else ("id_header" if op.id_header else "record_path")
            path = ("entities", entity, "operations", "create", key) if key != "record_path" \
                else ("entities", entity, "record_path")
            raise _Outcome(UNEXPECTED, "created, but the answer gives no id for the new "
                           f"record (read at {op.id_path or op.id_header or spec.id_field!r})",
                           self._hint(path, "where the new record's id is in the answer "
                                      "(or id_field)"))
        if result.extra.get("read_back"):
            raise _Outcome(UNEXPECTED, str(result.extra["read_back"]),
                           self._hint(("entities", entity, "item"), "the item path"))
        return result.created_ids[0]

    def _get(self, entity: str, spec: EntitySpec, record_id: Any,
             written: dict[str, Any]) -> None:
        result = self._perform(entity, "get", {"id": record_id})
        self._require_ok(entity, "get", result)
        record = result.record
        if not isinstance(record, dict):
            raise _Outcome(UNEXPECTED, "the answer holds no record at "
                           f"{spec.operation('get').record_path or spec.record_path or 'the top'}",
                           self._hint(("entities", entity, "record_path"),
                                      "where the record sits in the answer"))
        if str(record.get("id")) != str(record_id):
            raise _Outcome(UNEXPECTED, f"the record read has id {record.get('id')!r}, not "
                           f"{record_id!r} (id read at {spec.id_field!r})",
                           self._hint(("entities", entity, "id_field"),
                                      "the product's id field"))
        self._round_trip(entity, spec, written, record)

    def _round_trip(self, entity: str, spec: EntitySpec, written: dict[str, Any],
                    record: dict[str, Any]) -> None:
        canonical = FIELDS.get(entity, ())
        for name, value in written.items():
            if name not in canonical:
                continue  # a product field of the probe's own (a password): not read back
            got = record.get(name)
            if _same(value, got):
                continue
            shown = "absent" if name not in record else repr(got)
            path: tuple[str | int, ...] = ("entities", entity, "fields", name)
            if name in spec.composite_of:
                path = ("entities", entity, "composite", spec.composite_of[name])
            elif name in spec.related_of:
                path = ("entities", entity, "related", spec.related_of[name], "fields", name)
            elif name in spec.values:
                path = ("entities", entity, "values", name)
            raise _Outcome(UNEXPECTED, f"{name} was written as {value!r} but reads back "
                           f"{shown}", self._hint(path, f"the product's field for {name}"))

    def _update(self, entity: str, spec: EntitySpec, record_id: Any,
                change: dict[str, Any]) -> bool:
        result = self._perform(entity, "update", {"id": record_id, "data": change})
        self._require_ok(entity, "update", result, change)
        record = result.record
        if record is None and "get" in spec.operations:
            got = self._perform(entity, "get", {"id": record_id})
            record = got.record if got.outcome == "ok" else None
        if isinstance(record, dict):
            self._round_trip(entity, spec, change, record)
        return True

    def _listing(self, entity: str, spec: EntitySpec, op: str, record_id: Any,
                 written: dict[str, Any]) -> None:
        args: dict[str, Any] = {}
        if op == "search" or (op == "export" and record_id is not None):
            query = self._query(entity, written)
            if query:
                args["query"] = query
        if op == "list" and spec.list_.pagination.size_param:
            args["page_size"] = 5
        result = self._perform(entity, op, args)
        self._require_ok(entity, op, result)
        records = result.records or []
        if op != "export":
            without_id = [r for r in records if not isinstance(r, dict) or r.get("id") is None]
            if without_id:
                raise _Outcome(UNEXPECTED, f"{len(without_id)} of {len(records)} records "
                               f"have no id (read at {spec.id_field!r})",
                               self._hint(("entities", entity, "id_field"),
                                          "the product's id field"))
            if (spec.list_.total_path or spec.list_.total_header) and result.total is None:
                raise _Outcome(UNEXPECTED, "the answer gives no total at "
                               f"{spec.list_.total_path or spec.list_.total_header!r}",
                               self._hint(("entities", entity, "list", "total_path"),
                                          "where the total is (null: the product gives none)"))
        mine = self._mine(entity, record_id)
        if op in ("search", "export") and mine and "query" in args and not any(
                _holds(r, record_id, written, self.token) for r in records):
            key: tuple[str | int, ...] = (
                "entities", entity, "list",
                "search_request" if spec.list_.search_request or spec.list_.request
                else "search_param")
            if op == "export":
                key = ("entities", entity, "export", "columns")
            raise _Outcome(UNEXPECTED, f"{op} for {args['query']!r} did not find the "
                           f"throw-away record {record_id} ({len(records)} found)",
                           self._hint(key, "how the query is sent" if op == "search"
                                      else "the export's columns"))

    def _query(self, entity: str, written: dict[str, Any]) -> str | None:
        given = self.profile.probe.get(entity)
        if given is not None and given.search:
            return str(render_value(given.search, {**self._session_context(),
                                                   "unique": self.token}, "probe.search"))
        label = _LABEL_FIELD.get(entity)
        value = written.get(label) if label else None
        if value is None:
            value = next((v for v in written.values() if isinstance(v, str)), None)
        return str(value) if value is not None else None

    def _import(self, entity: str, spec: EntitySpec, data: dict[str, Any]) -> None:
        result = self._perform(entity, "import", {"rows": [data]})
        for record_id in result.created_ids:
            self.made.append(_Made(entity, record_id))
        self._require_ok(entity, "import", result)
        imported, rejected = result.extra.get("imported"), result.extra.get("rejected") or []
        if rejected:
            raise _Outcome(REFUSED, f"the row was rejected: {rejected}",
                           self._hint(("entities", entity, "import", "columns"),
                                      "the columns sent"))
        if imported != 1:
            raise _Outcome(UNEXPECTED, f"imported {imported!r}, not 1",
                           self._hint(("entities", entity, "import", "imported_path"),
                                      "where the count is"))
        if not result.created_ids:
            self._find_and_track(entity, data)

    def _find_and_track(self, entity: str, data: dict[str, Any]) -> None:
        """A record made without its id showing: find it by the probe's token and track it
        for the clean-up; one that cannot be found is reported as left behind."""
        values = {k: str(v) for k, v in data.items() if self.token in str(v)}
        shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
        try:
            found = self.driver.find_created(entity, values, self.cleaner) if values else None
        except CrmqaError as exc:
            self.report.leftovers.append(f"{entity} with {shown}: its id was not shown and "
                                         f"finding it failed ({exc})")
            return
        if not found:
            self.report.leftovers.append(f"{entity} with {shown}: its id was not shown and "
                                         "it could not be found again")
        for record_id in found or []:
            self.made.append(_Made(entity, record_id))

    def _convert(self, entity: str, spec: EntitySpec, record_id: Any) -> None:
        given = self.profile.probe.get(entity)
        before = given.before_convert if given is not None else None
        if before:
            data = self._data(entity, spec, "before_convert", {})
            prepared = self._perform(entity, "update", {"id": record_id, "data": data})
            if prepared.outcome != "ok":
                raise _Outcome(NOT_PROBED, "the update before convert (probe."
                               f"{entity}.before_convert) answered {prepared.outcome}")
        result = self._perform(entity, "convert", {"id": record_id})
        self._require_ok(entity, "convert", result)
        made = result.record or {}
        for key, created in CONVERT_CREATES.items():
            if made.get(key) is not None:
                self.made.append(_Made(created, made[key]))
        if not any(made.get(key) is not None for key in CONVERT_CREATES):
            raise _Outcome(UNEXPECTED, "converted, but the answer names none of the records "
                           "made", self._hint(("entities", entity, "convert", "results"),
                                              "where the new ids are"))

    def _delete(self, entity: str, spec: EntitySpec, record_id: Any) -> None:
        result = self._perform(entity, "delete", {"id": record_id})
        self._require_ok(entity, "delete", result)
        for made in self.made:
            if made.entity == entity and made.record_id == record_id:
                made.deleted = True
        if "get" in spec.operations:
            after = self._perform(entity, "get", {"id": record_id})
            if after.outcome != "not_found":
                raise _Outcome(UNEXPECTED, f"deleted, but reading it again answered "
                               f"{after.outcome} (HTTP {after.status}), not not_found",
                               self._hint(("entities", entity, "operations", "delete"),
                                          "how the product deletes"))

    def _listed_id(self, entity: str, spec: EntitySpec) -> Any:
        """The id of a record the list shows (read-only probes of `get`)."""
        if "list" not in spec.operations:
            return None
        self._exchanges = []
        try:
            result = self._perform(entity, "list", {})
        except (CrmqaError, NoEquivalent):
            return None
        for record in result.records or []:
            if isinstance(record, dict) and record.get("id") is not None:
                return record["id"]
        return None

    # ------------------------------------------------------------------ clean-up

    def _clean_up(self) -> None:
        """Remove every throw-away record still there, newest first, as the cleaning
        identity; what stays is listed (never silent)."""
        for made in reversed(self.made):
            if made.deleted:
                continue
            try:
                self.driver.cleanup(made.entity, made.record_id, self.cleaner)
                made.deleted = True
            except (CrmqaError, KeyboardInterrupt) as exc:
                self.report.leftovers.append(f"{made.entity} {made.record_id}: {exc}")

    # ------------------------------------------------------------------ hints

    def _hint(self, path: tuple[str | int, ...], what: str) -> str:
        """`entities.lead.list.items_path (profiles/acme.yaml:42)`: the key, and where."""
        key = ".".join(str(part) for part in path)
        where = self.profile.position_of(path)
        text = f"{key}" + (f" ({where})" if where else "")
        return f"{text}: {what}" if what else text

    def _auth_hint(self) -> str:
        return self._hint(("auth",), f"scheme {self.profile.auth.scheme}; or the identity's "
                          "credentials in the environment")

    def _refusal_hint(self, entity: str, op: str, result: OperationResult,
                      sent: dict[str, Any]) -> str:
        spec = self.profile.entities[entity]
        status = result.status or 0
        if status == 401:
            return self._auth_hint()
        if status == 403:
            return (f"the identity '{self.identity}' may not {op} {entity} records: act as "
                    "an identity that may, or map the answer in outcome_rules")
        if status in (404, 405, 501):
            if op in _COLLECTION_OPS:
                return self._path_hint(entity, spec, op)
            if spec.operation(op).path:
                return self._hint(("entities", entity, "operations", op, "path"),
                                  "the path (with {id})")
            return self._hint(("entities", entity, "item"), "the item path (with {id})")
        fields = [name for name in result.field_errors if name not in ("", "__all__")]
        if fields:
            return self._field_hint(entity, spec, op, fields[0], sent)
        if status >= 500:
            return self._hint(("entities", entity, "operations", op),
                              "the request the product cannot handle (path, method, body)")
        return self._hint(("entities", entity, "operations", op), "")

    def _field_hint(self, entity: str, spec: EntitySpec, op: str, name: str,
                    sent: dict[str, Any]) -> str:
        """Where to look when the product refuses a field: its mapping when crmqa sent it,
        the probe's data when the product wants a canonical field it was not given, a body
        default when it wants one of its own."""
        canonical = FIELDS.get(entity, ())
        if name in sent:
            if name in spec.fields:
                return self._hint(("entities", entity, "fields", name),
                                  f"the product's field for {name} (or, if the mapping is "
                                  f"right, the value: values.{name}, probe.{entity})")
            return self._hint(("entities", entity, "fields"),
                              f"{name} is sent as '{spec.product_field(name)}': map it if "
                              f"the product names it otherwise (or, if the value is what it "
                              f"refuses, see probe.{entity})")
        if name in canonical:
            return self._hint(("probe", entity, "create"),
                              f"the product wants {name}: give the throw-away record one")
        return self._hint(("entities", entity, "operations", op, "body_defaults"),
                          f"the product wants '{name}', which crmqa does not send: give it a "
                          "default here, or map a canonical field to it")

    def _path_hint(self, entity: str, spec: EntitySpec, op: str) -> str:
        """The key that gives a collection operation its path, the nearest first."""
        listing = spec.list_
        template = listing.request_for(op) if op in ("list", "search") else None
        candidates: list[tuple[tuple[str | int, ...], bool]] = [
            (("operations", op, "path"), bool(spec.operation(op).path)),
        ]
        if template is not None:
            key = "search_request" if op == "search" and listing.search_request else "request"
            candidates.insert(0, (("list", key, "path"), bool(template.path)))
        if op == "search":
            candidates.append((("list", "search_path"), bool(listing.search_path)))
        if op in ("list", "search"):
            candidates.append((("list", "path"), bool(listing.path)))
        if op == "import":
            candidates.append((("import", "path"), bool(spec.import_ and spec.import_.path)))
        if op == "export":
            candidates.append((("export", "path"), bool(spec.export and spec.export.path)))
        for path, given in candidates:
            if given:
                return self._hint(("entities", entity, *path), "the path")
        return self._hint(("entities", entity, "collection"), "the collection path")

    def _shape_hint(self, entity: str, op: str, problem: str) -> str | None:
        if "no list of records" in problem:
            return self._hint(("entities", entity, "list", "items_path"),
                              "where the records are (null: the answer is the list)")
        if "expected JSON" in problem:
            return self._hint(("entities", entity, "operations", op),
                              "the path answers something other than JSON")
        if "no id" in problem:
            return self._hint(("entities", entity, "operations", op, "id_path"),
                              "where the new id is")
        return None


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def _same(sent: Any, got: Any) -> bool:
    if got is None:
        return sent in (None, "")
    return _text(sent) == _text(got)


def _holds(record: Any, record_id: Any, written: dict[str, Any], token: str) -> bool:
    """The throw-away record: by its id, or (exports without ids) by a value only it has."""
    if not isinstance(record, dict):
        return False
    if record.get("id") is not None:
        return str(record["id"]) == str(record_id)
    texts = {_text(value) for value in record.values() if value is not None}
    unique = [value for value in written.values() if isinstance(value, str) and token in value]
    return any(_text(value) in texts for value in unique)
