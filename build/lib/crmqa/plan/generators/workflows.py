"""State transitions from declared workflows: every allowed move, every refused one.

    workflows:
      workflows:
        case_status:
          entity: case
          field: status
          initial: new
          transitions: {new: [in_progress], in_progress: [resolved],
                        resolved: [closed, in_progress], closed: []}
        lead_status:
          entity: lead
          initial: new
          creatable: [new, contacted, qualified, unqualified]
          transitions: {new: [contacted, qualified, unqualified], ..., qualified: [..., converted]}
          via: {converted: convert}     # reached by lead.convert, never by an update

Cases (each reaches its start state the shortest way from a state a record is created in):
- a new record starts in `initial`; a record may be created in each `creatable` state and in
  no other;
- each allowed transition succeeds and the record reads back in the new state;
- each refused transition (any other pair, final states included) is refused and the record
  keeps its state; a `via` state is refused as a plain update and, through its operation,
  from every state that may not reach it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from crmqa.plan.canonical import OPERATIONS
from crmqa.plan.generators.context import GenerationContext
from crmqa.plan.generators.problems import GenerationProblem, unknown
from crmqa.plan.generators.registry import Generator, register_generator
from crmqa.plan.generators.writing import CaseDefaults, case, check, op, saved
from crmqa.plan.models import Strict

__all__ = ["Workflow", "WorkflowsSection", "shortest_path"]

PREFIX = "GEN-FLOW"
_REFUSED = ["rejected", "conflict"]


class Workflow(Strict):
    """The states one field of an entity moves through."""

    entity: str = Field(description="the entity whose records move (lead, case...)")
    field: str = Field("status", description="the field holding the state")
    initial: str = Field(description="the state of a record created without the field")
    transitions: dict[str, list[str]] = Field(
        description="state -> the states it may move to ([] for a final state)")
    via: dict[str, str] = Field(
        default_factory=dict,
        description="state -> the operation that moves a record into it (e.g. converted: "
        "convert); such a state is never reached by an update")
    creatable: list[str] | None = Field(
        None, description="states a record may be created in (default: only `initial`)")


class WorkflowsSection(CaseDefaults):
    """State-transition cases from declared workflows."""

    workflows: dict[str, Workflow] = Field(description="workflow name -> its states")


def _validate(context: GenerationContext, name: str, flow: Workflow) -> None:
    where = ("workflows", name)
    states = list(flow.transitions)
    if flow.entity not in context.entities:
        raise unknown("entity with requirements", flow.entity, context.entities,
                      (*where, "entity"))
    for state in [flow.initial, *(flow.creatable or [])]:
        if state not in flow.transitions:
            raise unknown("state", state, states, (*where, "initial"))
    for source, targets in flow.transitions.items():
        for target in targets:
            if target not in flow.transitions:
                raise unknown("state", target, states, (*where, "transitions", source))
    for state, operation in flow.via.items():
        if state not in flow.transitions:
            raise unknown("state", state, states, (*where, "via"))
        if operation not in OPERATIONS:
            raise unknown("operation", operation, OPERATIONS, (*where, "via", state))
    starts = _starts(flow)
    for state in states:
        if shortest_path(flow, starts, state) is None:
            raise GenerationProblem(
                f"state '{state}' cannot be reached from {', '.join(starts)}: its transitions "
                "cannot be tested", (*where, "transitions"))


def _starts(flow: Workflow) -> list[str]:
    return list(dict.fromkeys([flow.initial, *(flow.creatable or [])]))


def shortest_path(flow: Workflow, starts: list[str], goal: str
                  ) -> list[tuple[str, str]] | None:
    """The fewest moves (source, target) from a start state to `goal`; [] when it is one."""
    queue: deque[tuple[str, list[tuple[str, str]]]] = deque((s, []) for s in starts)
    seen = set(starts)
    while queue:
        state, path = queue.popleft()
        if state == goal:
            return path
        for target in flow.transitions.get(state, []):
            if target not in seen:
                seen.add(target)
                queue.append((target, [*path, (state, target)]))
    return None


def generate(context: GenerationContext, section: WorkflowsSection
             ) -> Iterator[dict[str, Any]]:
    """Initial, creatable, allowed and refused cases of every workflow."""
    for name, flow in section.workflows.items():
        if not section.wants(flow.entity):
            continue
        _validate(context, name, flow)
        yield from _workflow_cases(context, section, name, flow)


def _move(flow: Workflow, source: str, target: str, *, expect_ok: bool,
          name: str | None = None) -> dict[str, Any]:
    expect: dict[str, Any] = {"outcome": "ok" if expect_ok else _REFUSED}
    operation = flow.via.get(target)
    if operation is not None:
        return op(f"{flow.entity}.{operation}", {"id": saved("record_id")},
                  name=name or f"{operation} ({source} -> {target})", expect=expect)
    return op(f"{flow.entity}.update",
              {"id": saved("record_id"), "data": {flow.field: target}},
              name=name or f"move {source} -> {target}", expect=expect)


def _state_is(flow: Workflow, state: str, name: str) -> dict[str, Any]:
    return op(f"{flow.entity}.get", {"id": saved("record_id")}, name=name,
              expect={"outcome": "ok", "body": [check(f"record.{flow.field}", "equals", state)]})


def _reach(context: GenerationContext, flow: Workflow, state: str) -> list[dict[str, Any]]:
    path = shortest_path(flow, _starts(flow), state)
    assert path is not None  # _validate checked every state is reachable
    start = path[0][0] if path else state
    data = context.required_record(flow.entity, "w", skip=[flow.field])
    if start != flow.initial:
        data[flow.field] = start
    steps = [op(f"{flow.entity}.create", {"data": data}, name=f"create a record in {start}",
                expect={"outcome": "ok"}, save={"record_id": "record.id"})]
    steps.extend(_move(flow, source, target, expect_ok=True) for source, target in path)
    return steps


def _workflow_cases(context: GenerationContext, section: WorkflowsSection, name: str,
                    flow: Workflow) -> Iterator[dict[str, Any]]:
    module = context.module(flow.entity)
    entity, field = flow.entity, flow.field
    tags = ["state-transition", f"workflow:{name}"]
    data = context.required_record(entity, "w", skip=[field])
    yield case(section, PREFIX, [name, "initial"],
               f"{name}: a new {entity} starts in {flow.initial}", module=module, tags=tags,
               steps=[op(f"{entity}.create", {"data": data}, name=f"create without {field}",
                         expect={"outcome": "ok", "body": [
                             check(f"record.{field}", "equals", flow.initial)]},
                         save={"record_id": "record.id"}),
                      _state_is(flow, flow.initial, "read it back")])
    creatable = set(_starts(flow))
    for state in flow.transitions:
        if state == flow.initial:
            continue
        allowed = state in creatable
        expect: dict[str, Any] = ({"outcome": "ok", "body": [
            check(f"record.{field}", "equals", state)]} if allowed
            else {"outcome": "rejected", "field_errors": [field]})
        yield case(section, PREFIX, [name, "create", state],
                   f"{name}: a {entity} {'may' if allowed else 'may not'} be created in "
                   f"{state}", module=module, tags=tags,
                   steps=[op(f"{entity}.create", {"data": {**data, field: state}},
                             name=f"create in {state}", expect=expect)])
    for source, targets in flow.transitions.items():
        for target in flow.transitions:
            if target == source:
                continue
            allowed = target in targets
            setup = _reach(context, flow, source)
            steps = [_move(flow, source, target, expect_ok=allowed),
                     _state_is(flow, target if allowed else source,
                               f"the {entity} is in {target if allowed else source}")]
            verb = "may" if allowed else "may not"
            yield case(section, PREFIX, [name, source, target],
                       f"{name}: a {entity} {verb} move from {source} to {target}",
                       module=module, setup=setup, steps=steps,
                       tags=[*tags, "allowed" if allowed else "refused"])
            if allowed and target in flow.via:
                # The operation is the only way in: a plain update must be refused.
                direct = op(f"{entity}.update",
                            {"id": saved("record_id"), "data": {field: target}},
                            name=f"set {field} to {target} by an update",
                            expect={"outcome": _REFUSED})
                yield case(section, PREFIX, [name, source, target, "by-update"],
                           f"{name}: {target} is reached only by {flow.via[target]}, never by "
                           "an update", module=module, setup=_reach(context, flow, source),
                           steps=[direct, _state_is(flow, source, f"the {entity} is still in "
                                                    f"{source}")],
                           tags=[*tags, "refused"])


register_generator(Generator(
    key="workflows",
    section=WorkflowsSection,
    generate=generate,
    summary="state-transition cases (allowed and refused moves) from declared workflows",
))
