"""A campaign and a run diff for people at a terminal, and as JSON for tools."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from crmqa.ledger import CampaignStatus, DefectStory, Lifecycle
from crmqa.reports.diff import CaseChange, RunDiff

_STATE_STYLES = {
    Lifecycle.NEW: "bold red",
    Lifecycle.OPEN: "red",
    Lifecycle.REOPENED: "bold magenta",
    Lifecycle.FIXED: "green",
    Lifecycle.WAIVED: "yellow",
}


def _decision(decision: str | None) -> Text:
    styles = {"ACCEPTED": "bold green", "REJECTED": "bold red", "SUSPENDED": "bold yellow"}
    if decision is None:
        return Text("no verdict", style="dim")
    return Text(decision, style=styles.get(decision, ""))


def history_table(status: CampaignStatus) -> Table:
    """One row per run (test cycle): build, counts, decision, suspension."""
    table = Table(title=f"Campaign {status.campaign}: cycles", title_justify="left")
    for column in ("#", "Run", "Build", "Started", "Passed", "Failed", "Other", "Decision",
                   "Suspension"):
        table.add_column(column, no_wrap=column != "Run")
    for cycle in status.cycles:
        run = cycle.run
        other = sum(n for k, n in run.counts.items() if k not in ("passed", "failed"))
        table.add_row(
            str(cycle.number), Text(run.run_id), Text(run.system_version or "—"),
            run.started_at.strftime("%Y-%m-%d %H:%M"), str(run.counts.get("passed", 0)),
            str(run.counts.get("failed", 0)), str(other), _decision(run.decision),
            Text(cycle.suspension),
        )
    return table


def defects_table(stories: list[DefectStory], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("Defect", "State", "Case", "Severity", "Priority", "First seen", "Last seen",
                   "Fixed in"):
        table.add_column(column, no_wrap=column not in ("Case",))
    for story in stories:
        table.add_row(
            story.fingerprint, Text(story.state.value, style=_STATE_STYLES[story.state]),
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


def render_status(console: Console, status: CampaignStatus) -> None:
    """`crmqa campaign status`: where the campaign stands, its builds and defects."""
    latest = status.latest
    assert latest is not None
    head = Text.assemble(
        ("Campaign ", "bold"), (str(status.campaign), "bold"), "  ·  latest verdict ",
        _decision(latest.decision), f" on build {latest.system_version or '—'}",
        "  ·  testing ", ("SUSPENDED" if status.suspended else "active",
                          "bold yellow" if status.suspended else "green"),
    )
    console.print(head)
    console.print(Text(f"Builds under test: {', '.join(status.builds)}"))
    counts = ", ".join(f"{state.value} {status.count(state)}" for state in Lifecycle)
    console.print(Text(f"Defects: {counts} (open, counted by the gates: {status.open_count})"))
    open_ = [s for s in status.defects if s.is_open]
    if open_:
        console.print(defects_table(open_, "Open defects"))


def render_history(console: Console, status: CampaignStatus) -> None:
    """`crmqa campaign history`: every cycle, then every defect with its lifecycle."""
    console.print(history_table(status))
    if status.defects:
        console.print(defects_table(status.defects, "Defects over the campaign"))


def _change_rows(table: Table, changes: list[CaseChange], what: str, timing: bool) -> None:
    for change in changes:
        detail = (f"{change.before_ms:.0f} ms → {change.after_ms:.0f} ms" if timing
                  else change.message)
        table.add_row(what, Text(change.label), f"{change.before} → {change.after}",
                      Text(" ".join(detail.split())[:160]))


def render_diff(console: Console, diff: RunDiff) -> None:
    """`crmqa campaign diff`: new failures, fixes, other changes, timing changes."""
    console.print(Text.assemble(
        ("Diff ", "bold"), diff.run_a, " → ", diff.run_b, "  ·  ",
        (f"{len(diff.new_failures)} new failure(s)", "bold red" if diff.new_failures else ""),
        ", ", (f"{len(diff.fixed)} fixed", "green"),
        f", {len(diff.still_failing)} still failing, {len(diff.other_changes)} other change(s),"
        f" {len(diff.slower)} slower, {len(diff.faster)} faster",
    ))
    if diff.empty and not diff.still_failing:
        return
    table = Table(title_justify="left")
    for column in ("Change", "Case", "Outcome", "Detail"):
        table.add_column(column, no_wrap=column != "Detail", overflow="fold")
    _change_rows(table, diff.new_failures, "new failure", False)
    _change_rows(table, diff.fixed, "fixed", False)
    _change_rows(table, diff.still_failing, "still failing", False)
    _change_rows(table, diff.other_changes, "changed", False)
    _change_rows(table, diff.slower, "slower", True)
    _change_rows(table, diff.faster, "faster", True)
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
