"""The verdict on the console: the decision, its reasons, and the gate table."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from crmqa.gates import Decision, Verdict

_STYLES = {
    Decision.ACCEPTED: "bold white on green",
    Decision.REJECTED: "bold white on red",
    Decision.SUSPENDED: "bold black on yellow",
}


def gate_table(verdict: Verdict) -> Table:
    """The gate rows as a rich table: gate, required, actual, result, detail."""
    table = Table(title="Gates: actual vs required", title_justify="left", expand=False)
    table.add_column("Gate", no_wrap=True)
    table.add_column("Required", no_wrap=True)
    table.add_column("Actual", no_wrap=True)
    table.add_column("Result", no_wrap=True)
    table.add_column("Detail", overflow="fold")
    for row in verdict.gate_results:
        if not row.applicable:
            result = Text("n/a", style="dim")
        elif row.passed:
            result = Text("PASS", style="bold green")
        else:
            result = Text("FAIL", style="bold red")
        # Text(...) keeps square brackets in CRM data from being read as rich markup.
        table.add_row(
            Text(row.name), Text(row.required), Text(row.actual), result, Text(row.detail)
        )
    return table


def render_verdict(console: Console, verdict: Verdict) -> None:
    """Print the verdict for a person at a terminal (the CLI and the plugin call this)."""
    counts = ", ".join(
        f"{name.replace('_', ' ')} {number}" for name, number in verdict.counts.items() if number
    )
    heading = Text.assemble(
        (f" {verdict.headline} ",
         _STYLES[verdict.decision] if verdict.decision else "bold white on grey30"),
        f"  exit code {verdict.exit_code}  ·  executed {verdict.executed}",
        f"  ·  {counts}" if counts else "",
    )
    body = Text()
    for reason in verdict.reasons:
        body.append("✗ ", style="red")
        body.append(reason + "\n")
    for warning in verdict.warnings:
        body.append("! ", style="yellow")
        body.append(warning + "\n")
    body.rstrip()
    if not body.plain:
        body = Text("all gates passed")
    console.print(Panel(body, title=heading, title_align="left", expand=False))
    console.print(gate_table(verdict))
