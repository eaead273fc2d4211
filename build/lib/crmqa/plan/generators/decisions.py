"""Decision tables (cause and effect) for rules with several conditions.

    decisions:
      tables:
        convert_lead:
          entity: lead
          action: convert                 # the operation the rule decides
          roles: {admin: admin, sales: sales, viewer: viewer}   # role -> identity
          owner_of_others: sales2         # who owns records that are not the actor's
          conditions:                     # besides role and ownership: field values
            status: [new, contacted, qualified]
          rules:                          # first match wins; a rule without `when` is the rest
            - {when: {role: viewer}, outcome: forbidden}
            - {when: {role: sales, ownership: other}, outcome: [not_found, forbidden]}
            - {when: {status: qualified}, outcome: ok}
            - {outcome: [conflict, rejected]}

Every combination of the conditions (or, with `coverage: pairwise`, an all-pairs covering
array of them) becomes a case: the record is created by its owner with the field values,
the role acts, and the outcome must be the first matching rule's. A combination no rule
covers is a plan error, so the table is complete by construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from crmqa.plan.canonical import OPERATIONS
from crmqa.plan.generators.context import GenerationContext
from crmqa.plan.generators.lists import filter_combinations
from crmqa.plan.generators.problems import GenerationProblem, unknown
from crmqa.plan.generators.registry import Generator, register_generator
from crmqa.plan.generators.writing import CaseDefaults, case, op, saved
from crmqa.plan.models import CanonicalOutcome, Strict

__all__ = ["DecisionRule", "DecisionTable", "DecisionsSection", "combinations"]

PREFIX = "GEN-DT"
_OWNERSHIP = ("own", "other")


class DecisionRule(Strict):
    """One row of a decision table: the conditions it matches and the outcome it gives."""

    when: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="condition -> value (or list of values) this rule matches; empty: all")
    outcome: CanonicalOutcome | list[CanonicalOutcome] = Field(
        description="the outcome (or acceptable outcomes) of the action")


class DecisionTable(Strict):
    """Who may do what to which record: conditions, and rules deciding the outcome."""

    entity: str = Field(description="the entity acted on")
    action: str = Field(description="the operation decided (convert, update, delete...)")
    data: dict[str, Any] = Field(default_factory=dict,
                                 description="what `update` writes (for action: update)")
    roles: dict[str, str] = Field(description="role -> the identity acting in it")
    owner_of_others: str | dict[str, str] | None = Field(
        None, description="identity owning records that are not the actor's (ownership: "
        "other); or role -> that identity, when it differs by role")
    creators: list[str] | None = Field(
        None, description="roles that can own records of their own (default: every role); "
        "other roles are tried on others' records only")
    conditions: dict[str, list[str]] = Field(
        default_factory=dict, description="field -> values the record is created with")
    rules: list[DecisionRule] = Field(description="first matching rule gives the outcome")
    coverage: Literal["all", "pairwise"] = Field(
        "all", description="every combination, or an all-pairs covering array of them")


class DecisionsSection(CaseDefaults):
    """Decision-table cases."""

    tables: dict[str, DecisionTable] = Field(description="table name -> decision table")
    category: Literal["functional", "security"] = Field(
        "security", description="category of the generated cases")


def combinations(table: DecisionTable) -> list[dict[str, str]]:
    """The combinations to test: role, ownership (when another owner is named) and each
    condition's values; all of them, or pairwise."""
    names = ["role"]
    domains: list[list[str]] = [list(table.roles)]
    if table.owner_of_others is not None:
        names.append("ownership")
        domains.append(list(_OWNERSHIP))
    for condition, values in table.conditions.items():
        names.append(condition)
        domains.append(list(values))
    if table.coverage == "pairwise" and len(domains) > 1:
        rows = filter_combinations(domains)
    else:
        rows = [list(row) for row in itertools.product(*domains)]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _matches(rule: DecisionRule, combination: dict[str, str]) -> bool:
    for condition, wanted in rule.when.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if combination.get(condition, "own") not in values:
            return False
    return True


def generate(context: GenerationContext, section: DecisionsSection
             ) -> Iterator[dict[str, Any]]:
    """One case per combination of each table."""
    for name, table in section.tables.items():
        if not section.wants(table.entity):
            continue
        where = ("tables", name)
        if table.action not in OPERATIONS:
            raise unknown("operation", table.action, OPERATIONS, (*where, "action"))
        for role, identity in table.roles.items():
            if not context.has_identity(identity):
                raise unknown("identity", identity, context.identities, (*where, "roles", role))
        others = table.owner_of_others
        named = others.items() if isinstance(others, dict) else [("", others)] if others else []
        for role, identity in named:
            if role and role not in table.roles:
                raise unknown("role", role, table.roles, (*where, "owner_of_others", role))
            if not context.has_identity(identity):
                raise unknown("identity", identity, context.identities,
                              (*where, "owner_of_others", *([role] if role else [])))
        for index, role in enumerate(table.creators or []):
            if role not in table.roles:
                raise unknown("role", role, table.roles, (*where, "creators", index))
        known = {"role", "ownership", *table.conditions}
        for index, written in enumerate(table.rules):
            for condition in written.when:
                if condition not in known:
                    raise unknown("condition", condition, sorted(known),
                                  (*where, "rules", index, "when"))
        for combination in combinations(table):
            decided = next((r for r in table.rules if _matches(r, combination)), None)
            if decided is None:
                shown = ", ".join(f"{k}={v}" for k, v in combination.items())
                raise GenerationProblem(f"no rule decides {shown}: add a rule (a last rule "
                                        "without `when` covers the rest)", (*where, "rules"))
            made = _case(context, section, name, table, combination, decided)
            if made is not None:
                yield made


def _case(context: GenerationContext, section: DecisionsSection, name: str,
          table: DecisionTable, combination: dict[str, str], rule: DecisionRule
          ) -> dict[str, Any] | None:
    actor = table.roles[combination["role"]]
    ownership = combination.get("ownership", "other" if table.owner_of_others else "own")
    others = table.owner_of_others
    other = others.get(combination["role"]) if isinstance(others, dict) else others
    owner = actor if ownership == "own" else other
    if owner is None or owner == "anonymous":
        return None
    if ownership == "own" and table.creators is not None \
            and combination["role"] not in table.creators:
        return None  # this role cannot own a record: the combination cannot be set up
    values = {k: v for k, v in combination.items() if k not in ("role", "ownership")}
    data = {**context.required_record(table.entity, "d", skip=values), **values}
    outcome = rule.outcome
    expected: Any = ([o.value for o in outcome] if isinstance(outcome, list)
                     else outcome.value)
    args: dict[str, Any] = {"id": saved("record_id")}
    if table.action == "update":
        args["data"] = table.data
    setup = [op(f"{table.entity}.create", {"data": data}, as_=owner,
                name=f"{owner} creates the record", expect={"outcome": "ok"},
                save={"record_id": "record.id"})]
    steps = [op(f"{table.entity}.{table.action}", args, as_=actor,
                name=f"{combination['role']} tries to {table.action}",
                expect={"outcome": expected})]
    shown = ", ".join(f"{k} {v}" for k, v in combination.items())
    parts = [name, *combination.values()]
    wanted = expected if isinstance(expected, str) else " or ".join(expected)
    return case(section, PREFIX, parts, f"{name}: {shown} -> {wanted}",
                module=context.module(table.entity), setup=setup, steps=steps,
                category=section.category, tags=["decision-table", f"table:{name}"])


register_generator(Generator(
    key="decisions",
    section=DecisionsSection,
    generate=generate,
    summary="decision tables: every combination of conditions against its expected outcome",
))
