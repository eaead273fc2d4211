"""Related records: one canonical record kept in two of the product's records.

Some products keep a lead's person (names, e-mail) in a party record of its own and let the
lead reference it. A profile says so with `related:`; the operations here then create the
related record first and reference it, read it with the record (embedded in the answer or by
a GET of its own), update the part each holds, and delete it after the record. A related
record made for a record the product then refused is deleted at once: nothing is left behind
silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmqa.checks.paths import search_path
from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.mapping import ABSENT, get_dotted, set_dotted, value_in, value_out
from crmqa.drivers.api.session import ApiSession
from crmqa.profiles.adapter import OperationResult
from crmqa.profiles.models import EntitySpec, RelatedSpec

if TYPE_CHECKING:
    from crmqa.drivers.api.operations import OperationRunner

_OK = "ok"


def related_body(entity: EntitySpec, spec: RelatedSpec, parts: dict[str, Any]
                 ) -> dict[str, Any]:
    """The related record's part of a canonical record, in its product fields."""
    body: dict[str, Any] = {}
    for field, value in parts.items():
        set_dotted(body, spec.fields[field], value_out(entity, field, value))
    return body


def related_canonical(entity: EntitySpec, spec: RelatedSpec, record: Any) -> dict[str, Any]:
    """The canonical fields a related product record holds."""
    out: dict[str, Any] = {}
    if not isinstance(record, dict):
        return out
    for field, product in spec.fields.items():
        value = get_dotted(record, product)
        if value is not ABSENT:
            out[field] = value_in(entity, field, value)
    return out


def reference_ids(entity: EntitySpec, product: Any) -> dict[str, Any]:
    """name -> the id the main product record holds for each related record."""
    ids: dict[str, Any] = {}
    if not isinstance(product, dict):
        return ids
    for name, spec in entity.related.items():
        value = get_dotted(product, spec.reference)
        if isinstance(value, dict):  # a reference given as an object ({"id": ...})
            value = value.get(spec.id_field)
        if value is not ABSENT and value not in (None, ""):
            ids[name] = value
    return ids


class RelatedRecords:
    """Creates, reads, updates and deletes the related records of one profile's entities."""

    def __init__(self, runner: OperationRunner) -> None:
        self.runner = runner

    def create(self, entity: EntitySpec, name: str, spec: RelatedSpec,
               parts: dict[str, Any], args: dict[str, Any], api: ApiSession,
               timeout_s: float | None) -> tuple[OperationResult | None, Any]:
        """Create one related record: (None, its id), or (the refusal, None)."""
        op = spec.operation("create")
        body = self.runner.outgoing_body(op, related_body(entity, spec, parts), args, api)
        exchange = self.runner.send(op, api, spec.method_of("create"),
                                    op.path or spec.collection, args, json=body,
                                    timeout_s=timeout_s,
                                    name=f"{spec.method_of('create')} {op.path or spec.collection}")
        answer = self.runner.decode(exchange, expect_json=exchange.status != 204)
        outcome = self.runner.outcome(exchange, answer, op.success, api)
        if outcome != _OK:
            result = OperationResult(outcome=outcome, status=exchange.status,
                                     extra={"raw": answer, "related": name})
            result.field_errors = self.runner.errors(entity, answer)
            return result, None
        record = search_path(op.record_path or spec.record_path, answer) if (
            op.record_path or spec.record_path) else answer
        new_id = (search_path(op.id_path, answer) if op.id_path
                  else self.runner.id_from_header(op, exchange))
        if new_id is None and isinstance(record, dict):
            new_id = get_dotted(record, spec.id_field)
            new_id = None if new_id is ABSENT else new_id
        if new_id in (None, ""):
            raise EnvironmentProblem(
                f"related record '{name}' was created but its answer holds no id at "
                f"{op.id_path or spec.id_field!r}: {exchange.summary()}")
        return None, new_id

    def read(self, entity: EntitySpec, name: str, spec: RelatedSpec, related_id: Any,
             api: ApiSession, timeout_s: float | None) -> tuple[str, Any]:
        """(outcome, product record) of one related record, by a GET of its own."""
        op = spec.operation("get")
        path = (op.path or spec.item_path).replace("{id}", str(related_id))
        exchange = self.runner.send(op, api, spec.method_of("get"), path,
                                    {"id": related_id}, timeout_s=timeout_s,
                                    name=f"{spec.method_of('get')} {op.path or spec.item_path}")
        answer = self.runner.decode(exchange, expect_json=True)
        outcome = self.runner.outcome(exchange, answer, op.success, api)
        path_in = op.record_path or spec.record_path
        return outcome, (search_path(path_in, answer) if path_in else answer)

    def attach(self, entity: EntitySpec, product: Any, record: dict[str, Any] | None,
               api: ApiSession, timeout_s: float | None) -> None:
        """Add the related records' canonical fields to a record read from the product."""
        if record is None or not entity.related:
            return
        ids = reference_ids(entity, product)
        for name, spec in entity.related.items():
            embedded = search_path(spec.embedded, product) if spec.embedded and isinstance(
                product, dict) else None
            if isinstance(embedded, dict):
                record.update(related_canonical(entity, spec, embedded))
                continue
            if name not in ids:
                continue
            outcome, related = self.read(entity, name, spec, ids[name], api, timeout_s)
            if outcome == _OK:
                record.update(related_canonical(entity, spec, related))

    def update(self, entity: EntitySpec, name: str, spec: RelatedSpec, related_id: Any,
               parts: dict[str, Any], args: dict[str, Any], api: ApiSession,
               timeout_s: float | None) -> OperationResult | None:
        """Change one related record; None when it worked, else the refusal."""
        op = spec.operation("update")
        path = (op.path or spec.item_path).replace("{id}", str(related_id))
        body = self.runner.outgoing_body(op, related_body(entity, spec, parts), args, api)
        exchange = self.runner.send(op, api, spec.method_of("update"), path, args, json=body,
                                    timeout_s=timeout_s,
                                    name=f"{spec.method_of('update')} "
                                    f"{op.path or spec.item_path}")
        answer = self.runner.decode(exchange, expect_json=exchange.status != 204)
        outcome = self.runner.outcome(exchange, answer, op.success, api)
        if outcome == _OK:
            return None
        result = OperationResult(outcome=outcome, status=exchange.status,
                                 extra={"raw": answer, "related": name})
        result.field_errors = self.runner.errors(entity, answer)
        return result

    def delete(self, name: str, spec: RelatedSpec, related_id: Any, api: ApiSession,
               timeout_s: float | None) -> str | None:
        """Delete one related record; None when it is gone, else what went wrong."""
        op = spec.operation("delete")
        path = (op.path or spec.item_path).replace("{id}", str(related_id))
        exchange = self.runner.send(op, api, spec.method_of("delete"), path,
                                    {"id": related_id}, timeout_s=timeout_s,
                                    name=f"{spec.method_of('delete')} "
                                    f"{op.path or spec.item_path}")
        answer = self.runner.decode(exchange, expect_json=False)
        outcome = self.runner.outcome(exchange, answer, op.success, api)
        if outcome in (_OK, "not_found"):
            return None
        return f"related record '{name}' {related_id} could not be deleted: {exchange.summary()}"

    def roll_back(self, made: list[tuple[str, RelatedSpec, Any]], api: ApiSession,
                  timeout_s: float | None, why: str) -> None:
        """Delete related records made for a record that was not created; a record that
        stays is an environment problem that names it."""
        problems = []
        for name, spec, related_id in reversed(made):
            try:
                problem = self.delete(name, spec, related_id, api, timeout_s)
            except EnvironmentProblem as exc:
                problem = f"related record '{name}' {related_id} could not be deleted: {exc}"
            if problem:
                problems.append(problem)
        if problems:
            raise EnvironmentProblem(f"{why}, and " + "; ".join(problems) + " (left behind)")
