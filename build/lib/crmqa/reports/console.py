"""The verdict on the console: the decision, its reasons, and the gate table."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from crmqa.gates import Decision, GateResult, Verdict
from crmqa.reports.i18n import (
    N_,
    decision_word,
    gate_result_word,
    gate_texts,
    gettext_for,
    reasons,
    state_word,
    warnings,
)

_STYLES = {
    Decision.ACCEPTED: "bold white on green",
    Decision.REJECTED: "bold white on red",
    Decision.SUSPENDED: "bold black on yellow",
}



def _result_style(row: GateResult) -> str:
    if not row.applicable:
        return "dim"
    return "bold green" if row.passed else "bold red"


def gate_table(verdict: Verdict, lang: str = "en") -> Table:
    """The gate rows as a rich table: gate, required, actual, result, detail (in `lang`)."""
    _ = gettext_for(lang)
    table = Table(title=_("Gates: actual vs required"), title_justify="left", expand=False)
    table.add_column(_("Gate"), no_wrap=True)
    table.add_column(_("Required"), no_wrap=True)
    table.add_column(_("Actual"), no_wrap=True)
    table.add_column(_("Result"), no_wrap=True)
    table.add_column(_("Detail"), overflow="fold")
    for row in verdict.gate_results:
        result = Text(gate_result_word(row, _), style=_result_style(row))
        shown = gate_texts(row, _)
        # Text(...) keeps square brackets in CRM data from being read as rich markup.
        table.add_row(
            Text(shown.name), Text(shown.required), Text(shown.actual), result,
            Text(shown.detail),
        )
    return table


ALL_PASSED = N_("all gates passed")


def render_verdict(console: Console, verdict: Verdict, lang: str = "en") -> None:
    """Print the verdict for a person at a terminal (the CLI and the plugin call this), its
    fixed words in `lang`."""
    _ = gettext_for(lang)
    counts = ", ".join(
        f"{state_word(name, _).replace('_', ' ')} {number}"
        for name, number in verdict.counts.items() if number
    )
    heading = Text.assemble(
        (f" {decision_word(verdict, _)} ",
         _STYLES[verdict.decision] if verdict.decision else "bold white on grey30"),
        "  " + _("exit code %(code)s") % {"code": verdict.exit_code} + "  ·  "
        + _("executed %(count)s") % {"count": verdict.executed},
        f"  ·  {counts}" if counts else "",
    )
    body = Text()
    for reason in reasons(verdict, _):
        body.append("✗ ", style="red")
        body.append(reason + "\n")
    for warning in warnings(verdict, _):
        body.append("! ", style="yellow")
        body.append(warning + "\n")
    body.rstrip()
    if not body.plain:
        body = Text(_(ALL_PASSED))
    console.print(Panel(body, title=heading, title_align="left", expand=False))
    console.print(gate_table(verdict, lang))
