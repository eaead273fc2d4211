"""`crmqa expand`: the generated cases of a plan, as YAML a person could have written, or a
table (`--list`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from crmqa.plan.loader import load_plan


class _Dumper(yaml.SafeDumper):
    """Block style, keys in written order, long lines kept whole."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


_STEP_ORDER = ("name", "op", "request", "ui", "wait_until", "target", "as", "with", "value",
               "values", "expect", "save", "continue_on_failure", "timeout_s")
_PHASES = ("setup", "steps", "teardown")


def _ordered_step(step: dict[str, Any]) -> dict[str, Any]:
    """A step's keys in the order people write them (what it does before what it expects)."""
    rank = {key: index for index, key in enumerate(_STEP_ORDER)}
    return dict(sorted(step.items(), key=lambda item: rank.get(item[0], len(rank))))


def written_form(case: dict[str, Any]) -> dict[str, Any]:
    """A dumped case with its steps' keys in written order."""
    return {key: [_ordered_step(step) for step in value] if key in _PHASES else value
            for key, value in case.items()}


def cases_yaml(cases: Sequence[dict[str, Any]]) -> str:
    """The cases as a YAML `cases:` list, readable and valid to paste into a plan."""
    return yaml.dump({"cases": list(cases)}, Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True, width=100, default_flow_style=False)


def print_expansion(plan_path: Path, *, as_list: bool, generators: Sequence[str],
                    console: Console) -> None:
    """Load the plan (every problem is reported as for `crmqa validate`) and print its
    generated cases, in the order a run collects them."""
    loaded = load_plan(plan_path)
    generated = [c for c in loaded.cases if c.generator is not None]
    known = sorted({c.generator for c in generated if c.generator})
    unknown = [name for name in generators if name not in known]
    if unknown:
        raise click.UsageError(
            f"the plan has no cases from generator(s) {', '.join(unknown)} "
            f"(its generators: {', '.join(known) or 'none'})")
    if generators:
        generated = [c for c in generated if c.generator in generators]
    if as_list:
        if not console.is_terminal:  # a pipe or a file: do not fold ids at 80 columns
            console = Console(width=200, highlight=False)
        table = Table(title=f"{len(generated)} generated case(s) in {plan_path}")
        table.add_column("id", no_wrap=True)
        table.add_column("generator", no_wrap=True)
        table.add_column("category", no_wrap=True)
        table.add_column("title", overflow="fold")
        for loaded_case in generated:
            case = loaded_case.case
            table.add_row(case.id, loaded_case.generator or "", case.category.value, case.title)
        console.print(table)
        return
    # The cases as the run has them: budgets and other transforms included.
    raws = [written_form(c.case.model_dump(mode="json", by_alias=True, exclude_unset=True))
            for c in generated]
    click.echo(cases_yaml(raws), nl=False)
