"""A campaign and a run diff for people at a terminal, and as JSON for tools.

The terminal views' fixed words are in the language asked for (`lang`, through the reports'
catalogue, crmqa.reports.i18n); plan and CRM data (case ids, builds, severity names) are shown
as written, and the JSON documents stay English for tools.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from crmqa.ledger import Campaign, CampaignStatus, DefectStory, Lifecycle, RunRecord
from crmqa.reports.diff import CaseChange, RunDiff
from crmqa.reports.i18n import DECISION_WORDS, N_, Gettext, gettext_for, state_word

_STATE_STYLES = {
    Lifecycle.NEW: "bold red",
    Lifecycle.OPEN: "red",
    Lifecycle.REOPENED: "bold magenta",
    Lifecycle.FIXED: "green",
    Lifecycle.WAIVED: "yellow",
}


def _decision(decision: str | None, _: Gettext) -> Text:
    styles = {"ACCEPTED": "bold green", "REJECTED": "bold red", "SUSPENDED": "bold yellow"}
    if decision is None:
        return Text(state_word("no verdict", _), style="dim")
    word = _(DECISION_WORDS[decision]) if decision in DECISION_WORDS else decision
    return Text(word, style=styles.get(decision, ""))


_HISTORY_COLUMNS = (N_("#"), N_("Run"), N_("Build"), N_("Started"), N_("Passed"), N_("Failed"),
                    N_("Other"), N_("Decision"), N_("Suspension"))
_DEFECT_COLUMNS = (N_("Defect"), N_("State"), N_("Case"), N_("Severity"), N_("Priority"),
                   N_("First seen"), N_("Last seen"), N_("Fixed in"))
_DIFF_COLUMNS = (N_("Change"), N_("Case"), N_("Outcome"), N_("Detail"))


def history_table(status: CampaignStatus, lang: str = "en") -> Table:
    """One row per run (test cycle): build, counts, decision, suspension (words in `lang`)."""
    _ = gettext_for(lang)
    table = Table(title=_("Campaign %(campaign)s: cycles") % {"campaign": status.campaign},
                  title_justify="left")
    for column in _HISTORY_COLUMNS:
        table.add_column(_(column), no_wrap=column != "Run")
    for cycle in status.cycles:
        run = cycle.run
        other = sum(n for k, n in run.counts.items() if k not in ("passed", "failed"))
        table.add_row(
            str(cycle.number), Text(run.run_id), Text(run.system_version or "—"),
            run.started_at.strftime("%Y-%m-%d %H:%M"), str(run.counts.get("passed", 0)),
            str(run.counts.get("failed", 0)), str(other), _decision(run.decision, _),
            Text(state_word(cycle.suspension, _)),
        )
    return table


def defects_table(stories: list[DefectStory], title: str, lang: str = "en") -> Table:
    """One row per defect: its lifecycle state, case, severity and where it was seen."""
    _ = gettext_for(lang)
    table = Table(title=title, title_justify="left")
    for column in _DEFECT_COLUMNS:
        table.add_column(_(column), no_wrap=column not in ("Case",))
    for story in stories:
        table.add_row(
            story.fingerprint,
            Text(state_word(story.state.value, _), style=_STATE_STYLES[story.state]),
            Text(_label(story.case_id, story.params)), Text(story.severity),
            Text(story.priority), Text(_seen(story.first_seen_run, story.first_seen_build)),
            Text(_seen(story.last_seen_run, story.last_seen_build)),
            Text(_seen(story.fixed_in_run or "", story.fixed_in_build) if story.fixed_in_run
                 else ""),
        )
    return table


def _seen(run_id: str, build: str) -> str:
    return f"{build} ({run_id})" if build else run_id


def _label(case_id: str, params: dict[str, Any]) -> str:
    if not params:
        return case_id
    return case_id + " [" + ", ".join(f"{k}={v}" for k, v in params.items()) + "]"


def render_campaigns(console: Console, campaigns: list[tuple[Campaign, list[RunRecord]]],
                     lang: str = "en") -> None:
    """`crmqa campaign list`: each campaign with its runs and latest verdict."""
    _ = gettext_for(lang)
    for known, runs in campaigns:
        latest = runs[-1]
        line = _("%(campaign)s: %(count)s run(s), latest %(run)s (build %(build)s)") % {
            "campaign": known, "count": len(runs), "run": latest.run_id,
            "build": latest.system_version or "—"}
        console.print(Text.assemble(line, " ", _decision(latest.decision, _)), soft_wrap=True)


def render_status(console: Console, status: CampaignStatus, lang: str = "en") -> None:
    """`crmqa campaign status`: where the campaign stands, its builds and defects."""
    _ = gettext_for(lang)
    latest = status.latest
    assert latest is not None
    head = Text.assemble(
        (_("Campaign %(campaign)s") % {"campaign": status.campaign}, "bold"),
        "  ·  " + _("latest verdict") + " ", _decision(latest.decision, _),
        " " + _("on build %(build)s") % {"build": latest.system_version or "—"},
        "  ·  ",
        (_("testing SUSPENDED") if status.suspended else _("testing active"),
         "bold yellow" if status.suspended else "green"),
    )
    console.print(head)
    console.print(Text(_("Builds under test: %(builds)s") % {"builds": ", ".join(status.builds)}))
    counts = ", ".join(f"{state_word(state.value, _)} {status.count(state)}"
                       for state in Lifecycle)
    console.print(Text(_("Defects: %(counts)s (open, counted by the gates: %(open)s)") % {
        "counts": counts, "open": status.open_count}))
    open_ = [s for s in status.defects if s.is_open]
    if open_:
        console.print(defects_table(open_, _("Open defects"), lang))


def render_history(console: Console, status: CampaignStatus, lang: str = "en") -> None:
    """`crmqa campaign history`: every cycle, then every defect with its lifecycle."""
    _ = gettext_for(lang)
    console.print(history_table(status, lang))
    if status.defects:
        console.print(defects_table(status.defects, _("Defects over the campaign"), lang))


def _change_rows(table: Table, changes: list[CaseChange], what: str, timing: bool,
                 _: Gettext) -> None:
    for change in changes:
        detail = (f"{change.before_ms:.0f} ms → {change.after_ms:.0f} ms" if timing
                  else change.message)
        table.add_row(_(what), Text(change.label),
                      f"{state_word(change.before, _)} → {state_word(change.after, _)}",
                      Text(" ".join(detail.split())[:160]))


def render_diff(console: Console, diff: RunDiff, lang: str = "en") -> None:
    """`crmqa campaign diff`: new failures, fixes, other changes, timing changes."""
    _ = gettext_for(lang)
    console.print(Text.assemble(
        (_("Diff") + " ", "bold"), diff.run_a, " → ", diff.run_b, "  ·  ",
        (_("%(count)s new failure(s)") % {"count": len(diff.new_failures)},
         "bold red" if diff.new_failures else ""),
        ", ", (_("%(count)s fixed") % {"count": len(diff.fixed)}, "green"),
        ", " + _("%(still)s still failing, %(other)s other change(s), %(slower)s slower, "
                 "%(faster)s faster") % {
            "still": len(diff.still_failing), "other": len(diff.other_changes),
            "slower": len(diff.slower), "faster": len(diff.faster)},
    ))
    if diff.empty and not diff.still_failing:
        return
    table = Table(title_justify="left")
    for column in _DIFF_COLUMNS:
        table.add_column(_(column), no_wrap=column != "Detail", overflow="fold")
    _change_rows(table, diff.new_failures, N_("new failure"), False, _)
    _change_rows(table, diff.fixed, N_("fixed"), False, _)
    _change_rows(table, diff.still_failing, N_("still failing"), False, _)
    _change_rows(table, diff.other_changes, N_("changed"), False, _)
    _change_rows(table, diff.slower, N_("slower"), True, _)
    _change_rows(table, diff.faster, N_("faster"), True, _)
    console.print(table)


def status_document(status: CampaignStatus) -> dict[str, Any]:
    """`--json` of status and history: cycles and defect stories."""
    return {
        "plan_id": status.campaign.plan_id,
        "target": status.campaign.target,
        "suspended": status.suspended,
        "builds": status.builds,
        "cycles": [
            {"number": c.number, "suspension": c.suspension,
             **c.run.model_dump(mode="json")}
            for c in status.cycles
        ],
        "defects": [
            {"fingerprint": s.fingerprint, "state": s.state.value, "case": s.case_id,
             "params": s.params, "title": s.title, "severity": s.severity,
             "priority": s.priority, "first_seen_run": s.first_seen_run,
             "first_seen_build": s.first_seen_build, "last_seen_run": s.last_seen_run,
             "last_seen_build": s.last_seen_build, "fixed_in_run": s.fixed_in_run,
             "fixed_in_build": s.fixed_in_build, "times_reopened": s.times_reopened,
             "waiver": s.waiver.model_dump() if s.waiver else None, "message": s.message}
            for s in status.defects
        ],
    }


def diff_document(diff: RunDiff) -> dict[str, Any]:
    """`--json` of a diff."""
    def rows(changes: list[CaseChange]) -> list[dict[str, Any]]:
        return [{"case": c.case_id, "params": c.params, "before": c.before, "after": c.after,
                 "before_ms": round(c.before_ms, 1), "after_ms": round(c.after_ms, 1),
                 "message": c.message} for c in changes]

    return {
        "run_a": diff.run_a, "run_b": diff.run_b,
        "new_failures": rows(diff.new_failures), "fixed": rows(diff.fixed),
        "still_failing": rows(diff.still_failing), "other_changes": rows(diff.other_changes),
        "slower": rows(diff.slower), "faster": rows(diff.faster),
    }
