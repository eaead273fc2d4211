"""`crmqa calibrate PLAN`: how many of the sandbox's seeded faults a plan catches.

The plan runs once on clean sandboxes (no case may fail there), then against sandboxes started
with seeded faults. Running the whole plan once per fault would take hours, so calibration
serves several faults in one sandbox when they cannot interact:

- every fault declares the surfaces where its behaviour shows (`Fault.touches`); two faults
  whose surfaces overlap never share a sandbox (they may change the same code path and mask
  each other): crmqa.cli.calibrate_surfaces;
- a faulty sandbox runs only the cases that use a surface of one of its faults (the other
  cases cannot see those faults: they count as in the clean run);
- a case that fails (or breaks, or is blocked) there and passed on the clean sandbox is blamed
  on the group's fault whose surfaces it uses; when it uses the surfaces of several, the step
  that failed decides; when even that cannot tell, or when it uses none of them, the case runs
  again against each of the group's faults alone, and the faults that change it alone are
  blamed.

A fault is caught when at least one case is blamed on it. The verdict with a fault is the
clean run's results with the fault's cases replaced, through the plan's own gates.

Two modes. The full calibration runs every case each group selects, so the matrix lists every
case that fails with each fault. `until_caught` runs a group's cases most-likely-first and
stops once each of its faults is caught: it proves the same thing CI needs (every seeded
fault makes at least one case that passed on the clean sandbox fail) in a fraction of the
time; its matrix lists the cases that caught each fault before the group stopped, and the
verdict with a fault is a lower bound.

Cases run in worker processes that keep one sandbox and one engine per group
(crmqa.cli.calibrate_pool); tests drive `calibrate` with a runner function instead.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from crmqa.cli.calibrate_pool import ResultKey, RunRequest, RunResult, result_key
from crmqa.cli.calibrate_surfaces import (
    UNIVERSE,
    case_surfaces,
    cases_for,
    check_grouping,
    expand,
    failing_step_surfaces,
    fault_surfaces,
    group_faults,
    likelihood_order,
    overlap,
    step_surfaces,
    with_dependencies,
)
from crmqa.core.errors import CrmqaError
from crmqa.core.results import CaseResult, Outcome
from crmqa.plan.loaded import LoadedPlan
from crmqa.sandbox.faults import CATALOGUE, Fault

__all__ = [
    "UNIVERSE", "Calibration", "CalibrationError", "FaultDetection", "RunRequest", "RunResult",
    "calibrate", "case_surfaces", "cases_for", "check_grouping", "check_plan", "expand",
    "failing_step_surfaces", "group_faults", "new_out_dir", "overlap", "result_key",
    "step_surfaces", "to_json", "to_markdown", "write_outputs",
]

# Outcomes that mean "the product did not do what the case expects" for calibration: a broken
# or blocked case on a faulty sandbox that passed on the clean one was changed by the fault.
CHANGED = frozenset({Outcome.FAILED, Outcome.BROKEN, Outcome.BLOCKED})
FULL_CHUNK = 60  # cases per run in a full calibration: enough to keep both workers busy
QUICK_CHUNK = 8  # cases per run when stopping at the first catch: stop soon after it


class CalibrationError(CrmqaError):
    """The plan cannot be calibrated (its target is not the sandbox, say): a usage error."""

    exit_code = 3


class CalibrationIncomplete(CrmqaError):
    """The clean run could not run: nothing can be blamed (an environment problem)."""

    exit_code = 4


Runner = Callable[[str, Sequence[str], Sequence[str] | None], RunResult]


class RunPool(Protocol):
    """Where calibration sends its runs (crmqa.cli.calibrate_pool.EnginePool)."""

    @property
    def size(self) -> int: ...

    def idle(self) -> int: ...

    def sandbox_faults(self) -> list[tuple[str, ...] | None]: ...

    def submit(self, request: RunRequest) -> None: ...

    def next_done(self) -> tuple[RunRequest, RunResult]: ...


class SyncPool:
    """A pool of one that runs each request at once with a runner function (tests)."""

    size = 1

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.done: deque[tuple[RunRequest, RunResult]] = deque()

    def idle(self) -> int:
        return 0 if self.done else 1

    def sandbox_faults(self) -> list[tuple[str, ...] | None]:
        return [None] * self.idle()

    def submit(self, request: RunRequest) -> None:
        try:
            run = self.runner(request.label, request.faults, request.cases)
        except (CrmqaError, OSError, RuntimeError) as error:
            run = RunResult(request.label, request.faults,
                            list(request.cases) if request.cases is not None else None, {},
                            0.0, exit_code=4, error=str(error).splitlines()[0])
        self.done.append((request, run))

    def next_done(self) -> tuple[RunRequest, RunResult]:
        return self.done.popleft()


# ----------------------------------------------------------------------------- results


@dataclass
class FaultDetection:
    """What calibration found for one fault."""

    fault: Fault
    group: int
    caught_by: list[str] = field(default_factory=list)  # "CASE-ID" or "CASE-ID[params]"
    verdict: str | None = None
    verdict_changed: bool = False
    regrouped: bool = False  # some of its cases ran again with it alone
    # it ran alone on every case that uses its surfaces (not only on a neighbour's ambiguous
    # failures): only then may it be called missed
    ran_alone_fully: bool = False
    not_run: str | None = None  # why its runs produced no results (then it is not judged)

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)

    @property
    def status(self) -> str:
        return "caught" if self.caught else "not run" if self.not_run else "missed"


@dataclass
class Calibration:
    """The detection matrix and everything needed to print and keep it."""

    plan_id: str
    clean_verdict: str | None
    clean_failures: list[str]
    detections: list[FaultDetection]
    groups: list[list[str]]
    notes: list[str]
    runs: list[dict[str, Any]]
    seconds: float
    until_caught: bool = False
    timing: dict[str, Any] = field(default_factory=dict)
    clean_runs: list[dict[str, Any]] = field(default_factory=list)  # each clean repetition

    @property
    def ok(self) -> bool:
        return not self.clean_failures and all(d.caught for d in self.detections)

    @property
    def complete(self) -> bool:
        """Every fault's runs produced results (none was left unjudged)."""
        return not any(d.not_run for d in self.detections)

    def scores(self) -> dict[str, tuple[int, int]]:
        """Per category: (caught, seeded)."""
        out: dict[str, tuple[int, int]] = {}
        for detection in self.detections:
            caught, total = out.get(detection.fault.category, (0, 0))
            out[detection.fault.category] = (caught + detection.caught, total + 1)
        return out


def _label(result: CaseResult) -> str:
    if not result.params:
        return result.case_id
    shown = ",".join(f"{k}={v}" for k, v in result.params.items())
    return f"{result.case_id}[{shown}]"


def _changed(run: RunResult, clean: dict[ResultKey, CaseResult]) -> list[CaseResult]:
    return [result for key, result in run.results.items()
            if result.outcome in CHANGED and key in clean
            and clean[key].outcome not in CHANGED]


def _verdict(plan: LoadedPlan, results: Iterable[CaseResult]) -> str | None:
    from crmqa.gates import evaluate

    verdict = evaluate(list(results), plan.plan.gates, plan.plan.scales, [], date.today())
    return None if verdict.decision is None else str(verdict.decision.value)


# ----------------------------------------------------------------------------- scheduling


@dataclass
class _GroupWork:
    """One group of faults and the cases it still has to run."""

    index: int
    faults: list[Fault]
    selected: list[str]  # every case the group's surfaces select, in run order
    orders: dict[str, list[str]]  # fault -> its cases, most likely first (until_caught)
    submitted: set[str] = field(default_factory=set)
    started: bool = False
    stopped: bool = False  # no more runs for it (all caught, or its sandbox failed)
    label: str = ""  # group-NN, or group-NN-<fault> once a group is split

    def __post_init__(self) -> None:
        self.label = self.label or f"group-{self.index:02d}"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.faults)

    def next_cases(self, size: int, caught: set[str], until_caught: bool) -> list[str]:
        """The next `size` cases to run (with what they depend on), or [] when done."""
        if self.stopped:
            return []
        if until_caught:
            waiting = [f.name for f in self.faults if f.name not in caught]
            if not waiting:
                return []
            lists = [deque(c for c in self.orders[name] if c not in self.submitted)
                     for name in waiting]
            chosen: list[str] = []
            while len(chosen) < size and any(lists):
                for queue in lists:  # one from each waiting fault in turn
                    while queue and queue[0] in chosen:
                        queue.popleft()
                    if queue and len(chosen) < size:
                        chosen.append(queue.popleft())
        else:
            chosen = [c for c in self.selected if c not in self.submitted][:size]
        self.submitted.update(chosen)
        return chosen


def _split(plan: LoadedPlan, parts: int) -> list[list[str]]:
    """Every case in `parts` lists of about equal mix (a case goes with its dependencies)."""
    lists: list[list[str]] = [[] for _ in range(max(1, parts))]
    home: dict[str, int] = {}
    turn = 0
    for loaded in plan.dependency_order():
        deps = [home[d] for d in loaded.case.depends_on if d in home]
        part = deps[0] if deps else turn % len(lists)
        if not deps:
            turn += 1
        home[loaded.case.id] = part
        lists[part].append(loaded.case.id)
    return [part for part in lists if part]


def _alone_before_missed(plan: LoadedPlan, works: list[_GroupWork], queue: list[_GroupWork],
                         caught: set[str], detections: dict[str, FaultDetection],
                         notes: list[str]) -> bool:
    """Queue a run alone for every uncaught fault of a shared group that has not run alone
    (a fault may show on a surface it failed to declare, and its failures were then blamed on
    a neighbour): "missed" is only said of a fault that also ran alone. True when queued."""
    queued = False
    for work in list(works):
        if len(work.faults) < 2:
            continue
        for fault in work.faults:
            detection = detections[fault.name]
            if fault.name in caught or detection.ran_alone_fully or detection.not_run:
                continue
            detection.regrouped = detection.ran_alone_fully = True
            notes.append(f"{fault.name}: nothing blamed on it in {work.label}; it ran alone "
                         "to be sure")
            single = cases_for(plan, fault_surfaces(fault))
            works.append(_GroupWork(len(works), [fault], single, {fault.name: single},
                                    stopped=not single, label=f"{work.label}-{fault.name}"))
            queue.append(works[-1])
            queued = queued or bool(single)
    return queued


def calibrate(plan: LoadedPlan, runner: Runner | RunPool, *,
              faults: Sequence[Fault] = CATALOGUE, jobs: int = 1, until_caught: bool = False,
              chunk: int | None = None, clean_runs: int = 1,
              reused_clean: Sequence[RunResult] = (),
              progress: Callable[[str], None] = lambda _: None) -> Calibration:
    """Run the clean sandbox and every group of faults; blame failures; keep the matrix.

    `runner` is a pool of workers (crmqa.cli.calibrate_pool.EnginePool) or a function that
    runs one request at a time (`jobs` is then ignored). The clean plan runs `clean_runs`
    times, each on fresh sandboxes; `reused_clean` are clean runs of the whole plan made
    before (crmqa.cli.calibrate_clean_run), each counted as one more repetition. A case that
    fails in any of them is a false failure.
    """
    started = time.monotonic()
    pool: RunPool = (cast(RunPool, runner) if hasattr(runner, "next_done")
                     else SyncPool(cast(Runner, runner)))
    by_case = {c.case.id: c for c in plan.cases}
    notes: list[str] = []
    runs: list[RunResult] = []

    def record(run: RunResult) -> RunResult:
        runs.append(run)
        if run.error:
            progress(f"{run.label}: could not run: {run.error}")
        else:
            changed = sum(r.outcome in CHANGED for r in run.results.values())
            progress(f"{run.label}: {len(run.results)} cases, {changed} failed, "
                     f"{run.seconds:.0f} s")
        return run

    # -- the clean runs ----------------------------------------------------------------------
    # Each repetition on sandboxes of its own: a case that fails on any clean sandbox is a
    # false failure, and is never blamed on a fault.
    if clean_runs + len(reused_clean) < 1:
        raise CalibrationError("calibration needs a clean run: make one or reuse one")
    parts = _split(plan, pool.size)
    pending: deque[RunRequest] = deque()
    reused = len(reused_clean)
    for repeat in range(reused + 1, reused + clean_runs + 1):
        for number, part in enumerate(parts, 1):
            label = "clean" if len(parts) == 1 else f"clean-{number}"
            label += f".r{repeat}" if clean_runs + reused > 1 else ""
            pending.append(RunRequest(label, (), tuple(part), sandbox=f"clean-{repeat}"))
    by_repeat: list[dict[ResultKey, CaseResult]] = [dict(run.results) for run in reused_clean]
    by_repeat += [{} for _ in range(clean_runs)]
    for run in reused_clean:
        record(run)
    in_flight = 0
    while pending or in_flight:
        while pending and pool.idle():
            pool.submit(pending.popleft())
            in_flight += 1
        request, run = pool.next_done()
        in_flight -= 1
        record(run)
        if run.error or not run.results:
            raise CalibrationIncomplete(
                f"the clean run {run.label} produced no results: "
                f"{run.error or 'no case ran'}; nothing can be blamed without it")
        by_repeat[int(request.sandbox.rsplit("-", 1)[1]) - 1].update(run.results)
    clean: dict[ResultKey, CaseResult] = dict(by_repeat[0])
    failed_in: dict[ResultKey, int] = {}
    for results in by_repeat:
        for key, result in results.items():
            if result.outcome in CHANGED:
                failed_in[key] = failed_in.get(key, 0) + 1
                clean[key] = result  # failed once on a clean sandbox: never blamed
            clean.setdefault(key, result)
    clean_failures = sorted(
        _label(clean[key]) + (f" (in {count} of {len(by_repeat)} clean runs)"
                              if len(by_repeat) > 1 else "") for key, count in failed_in.items())
    clean_verdict = _verdict(plan, clean.values())
    clean_summary = [{"run": index, "cases": len(results),
                      **({"reused": reused_clean[index - 1].label} if index <= reused else {}),
                      "failures": sorted(_label(r) for r in results.values()
                                         if r.outcome in CHANGED),
                      "verdict": _verdict(plan, results.values())}
                     for index, results in enumerate(by_repeat, 1)]

    # -- the faulty runs ---------------------------------------------------------------------
    groups = group_faults(faults)
    check_grouping(groups)
    detections = {f.name: FaultDetection(f, index) for index, g in enumerate(groups) for f in g}
    blamed: dict[str, dict[ResultKey, CaseResult]] = {f.name: {} for f in faults}
    caught: set[str] = set()
    size = chunk or (QUICK_CHUNK if until_caught else FULL_CHUNK)
    works: list[_GroupWork] = []
    for index, group in enumerate(groups):
        union = frozenset().union(*(fault_surfaces(f) for f in group))
        selected = cases_for(plan, union)
        if not selected:
            notes.append(f"no case uses a surface of {', '.join(f.name for f in group)}")
        works.append(_GroupWork(index, group, selected,
                                {f.name: likelihood_order(plan, f) for f in group}
                                if until_caught else {}, stopped=not selected))
    # a group's runs first where its sandbox already is, the biggest groups first
    queue = sorted(works, key=lambda w: -len(w.selected))
    alone: deque[RunRequest] = deque()  # cases to run again with one fault alone
    unexplained: dict[tuple[str, str], list[str]] = {}  # (group label, case label) -> faults
    counters: dict[str, int] = {}
    in_flight = 0

    def request_for(work: _GroupWork) -> RunRequest | None:
        cases = work.next_cases(size, caught, until_caught)
        if not cases:
            work.stopped = True
            return None
        work.started = True
        label = work.label
        counters[label] = counters.get(label, 0) + 1
        return RunRequest(f"{label}.{counters[label]}", work.names,
                          tuple(with_dependencies(plan, cases)), work.index)

    def next_request() -> RunRequest | None:
        if alone:
            return alone.popleft()
        held = set(pool.sandbox_faults())
        for work in queue:  # keep a worker on the group whose sandbox it holds
            if not work.stopped and work.names in held:
                request = request_for(work)
                if request is not None:
                    return request
        for started_first in (False, True):  # then a new group, then help a running one
            for work in queue:
                if not work.stopped and work.started == started_first:
                    request = request_for(work)
                    if request is not None:
                        return request
        return None

    def blame(request: RunRequest, run: RunResult) -> None:
        if request.group is None:  # a run with one fault alone
            (name,) = request.faults
            for result in _changed(run, clean):
                blamed[name][result_key(result)] = result
                caught.add(name)
                key = (request.label.split("-alone")[0], _label(result))
                if key in unexplained:
                    notes.append(f"{_label(result)} failed with {name} alone although it uses "
                                 f"none of the surfaces {name} declares: declare them in "
                                 "crmqa/sandbox/faults.py")
                    unexplained.pop(key)
            return
        work = works[request.group]
        again: dict[str, list[str]] = {}
        for result in _changed(run, clean):
            case = by_case[result.case_id]
            suspects = [f for f in work.faults if case_surfaces(case) & fault_surfaces(f)]
            failing = failing_step_surfaces(case, result)
            if len(suspects) > 1 and failing is not None:
                # The faults of a group share no surface: the step that failed names one.
                suspects = [f for f in suspects if failing & fault_surfaces(f)] or suspects
            if len(suspects) == 1:
                blamed[suspects[0].name][result_key(result)] = result
                caught.add(suspects[0].name)
                continue
            if not suspects:
                if len(work.faults) == 1:
                    name = work.faults[0].name
                    blamed[name][result_key(result)] = result
                    caught.add(name)
                    notes.append(f"{_label(result)} failed with {name} although it uses none of "
                                 f"the surfaces {name} declares: declare them in "
                                 "crmqa/sandbox/faults.py")
                    continue
                suspects = list(work.faults)
                unexplained[(work.label, _label(result))] = [
                    f.name for f in suspects]
            if until_caught:
                # A fault already caught needs no more evidence; the others still do.
                suspects = [f for f in suspects if f.name not in caught]
            for fault in suspects:
                detections[fault.name].regrouped = True
                again.setdefault(fault.name, []).append(result.case_id)
        for name, case_ids in again.items():
            label = f"{work.label}-alone-{name}"
            counters[label] = counters.get(label, 0) + 1
            alone.append(RunRequest(f"{label}.{counters[label]}", (name,),
                                    tuple(with_dependencies(plan, set(case_ids)))))

    while True:
        while pool.idle():
            wanted = next_request()
            if wanted is None:
                break
            pool.submit(wanted)
            in_flight += 1
        if not in_flight and not _alone_before_missed(plan, works, queue, caught, detections,
                                                      notes):
            break
        if not in_flight:
            continue
        request, run = pool.next_done()
        in_flight -= 1
        record(run)
        if run.error:
            work = works[request.group] if request.group is not None else None
            if work is not None:
                work.stopped = True
            if work is not None and len(work.faults) > 1:
                # One fault may be what keeps the sandbox from starting: each of the group's
                # faults gets a sandbox of its own, with the cases its surfaces select.
                notes.append(f"{request.label} could not run ({run.error}): its faults "
                             "run again one by one")
                for fault in work.faults:
                    if fault.name in caught:
                        continue
                    detections[fault.name].regrouped = True  # it runs alone now
                    single = cases_for(plan, fault_surfaces(fault))
                    works.append(_GroupWork(
                        len(works), [fault], single,
                        {fault.name: work.orders.get(fault.name, single)},
                        stopped=not single, label=f"{work.label}-{fault.name}"))
                    queue.append(works[-1])
                continue
            for name in request.faults:
                if name not in caught and not detections[name].not_run:
                    detections[name].not_run = f"{request.label}: {run.error}"
            continue
        blame(request, run)

    for (group_label, case_label), names in unexplained.items():
        notes.append(f"{group_label}: {case_label} failed with {', '.join(names)} together but "
                     "with none of them alone (an interaction, or a flaky case)")

    for fault in faults:
        detection = detections[fault.name]
        found = blamed[fault.name]
        detection.caught_by = sorted(_label(r) for r in found.values())
        if detection.caught:
            detection.not_run = None
        merged = {**clean, **found}
        detection.verdict = _verdict(plan, merged.values())
        detection.verdict_changed = detection.verdict != clean_verdict
    return Calibration(
        plan_id=plan.plan.id,
        clean_verdict=clean_verdict,
        clean_failures=clean_failures,
        detections=[detections[f.name] for f in faults],
        groups=[[f.name for f in g] for g in groups],
        notes=notes,
        runs=[{"label": r.label, "faults": list(r.faults), "cases": len(r.results),
               "seconds": round(r.seconds, 1), "sandbox_start_s": round(r.sandbox_start_s, 1),
               "worker": r.worker, "exit_code": r.exit_code,
               **({"error": r.error} if r.error else {})} for r in runs],
        seconds=time.monotonic() - started,
        until_caught=until_caught,
        timing=_timing(runs, clean),
        clean_runs=clean_summary,
    )


def _timing(runs: Sequence[RunResult], clean: dict[ResultKey, CaseResult]) -> dict[str, Any]:
    """Where the time went: case time, sandbox start-ups, runs."""
    case_s = sum(r.duration_ms for run in runs for r in run.results.values()) / 1000
    starts = [run.sandbox_start_s for run in runs if run.sandbox_start_s]
    return {
        "runs": len(runs),
        "case_runs": sum(len(run.results) for run in runs),
        "clean_case_runs": len(clean),
        "case_seconds": round(case_s, 1),
        "sandbox_starts": len(starts),
        "sandbox_start_seconds": round(sum(starts), 1),
    }


# ----------------------------------------------------------------------------- outputs


def to_json(calibration: Calibration) -> dict[str, Any]:
    """The matrix as plain data (calibration.json)."""
    return {
        "plan_id": calibration.plan_id,
        "ok": calibration.ok,
        "complete": calibration.complete,
        "mode": "until_caught" if calibration.until_caught else "full",
        "seconds": round(calibration.seconds, 1),
        "timing": calibration.timing,
        "clean": {"verdict": calibration.clean_verdict,
                  "failures": calibration.clean_failures, "runs": calibration.clean_runs},
        "scores": {category: {"caught": caught, "seeded": total}
                   for category, (caught, total) in sorted(calibration.scores().items())},
        "faults": [{
            "name": d.fault.name, "category": d.fault.category,
            "description": d.fault.description, "group": d.group, "caught": d.caught,
            "status": d.status, "not_run": d.not_run,
            "caught_by": d.caught_by, "verdict": d.verdict,
            "verdict_changed": d.verdict_changed, "ran_alone": d.regrouped,
        } for d in calibration.detections],
        "groups": calibration.groups,
        "notes": calibration.notes,
        "runs": calibration.runs,
    }


def to_markdown(calibration: Calibration) -> str:
    """The matrix for people (calibration.md)."""
    caught = sum(d.caught for d in calibration.detections)
    lines = [
        f"# Calibration of `{calibration.plan_id}`",
        "",
        f"{caught} of {len(calibration.detections)} seeded faults caught; clean run: "
        f"{calibration.clean_verdict or 'no verdict'}"
        + (f", **{len(calibration.clean_failures)} false failure(s)**: "
           + ", ".join(calibration.clean_failures) if calibration.clean_failures else
           ", no failure") + f". {calibration.seconds:.0f} s in "
        f"{len(calibration.runs)} runs"
        + (" (each group stopped once its faults were caught: the cases listed are those "
           "that caught a fault first, and a verdict is the least the fault changes)"
           if calibration.until_caught else "") + ".",
        "",
    ]
    reused = [r["reused"] for r in calibration.clean_runs if "reused" in r]
    if reused:
        lines += [f"Clean results reused (--clean-run): {', '.join(reused)}.", ""]
    if len(calibration.clean_runs) > 1:
        lines += ["", f"Clean runs ({len(calibration.clean_runs)}, each on fresh sandboxes):",
                  ""]
        lines += [f"- run {r['run']}: {r['cases']} case runs, verdict {r['verdict'] or 'none'}, "
                  + (f"false failures: {', '.join(r['failures'])}" if r["failures"]
                     else "no failure") + (" (reused)" if "reused" in r else "")
                  for r in calibration.clean_runs]
    lines += [
        "",
        "| category | caught | seeded | score |",
        "|---|---:|---:|---:|",
    ]
    for category, (hit, total) in sorted(calibration.scores().items()):
        lines.append(f"| {category} | {hit} | {total} | {100 * hit / total:.0f}% |")
    lines += ["", "| fault | category | result | verdict | cases that failed |",
              "|---|---|---|---|---|"]
    for d in calibration.detections:
        verdict = (f"{calibration.clean_verdict} → {d.verdict}" if d.verdict_changed
                   else f"{d.verdict} (unchanged)")
        result = "caught" if d.caught else f"**{d.status}**"
        lines.append(f"| `{d.fault.name}` | {d.fault.category} | {result} | {verdict} | "
                     f"{', '.join(d.caught_by) or '—'} |")
    lines += ["", "Faults served together (no shared surface):", ""]
    lines += [f"{index}. {', '.join(group)}" for index, group in enumerate(calibration.groups)]
    not_run = [d for d in calibration.detections if d.not_run]
    if not_run:
        lines += ["", "Not run (no results, so not judged):", ""]
        lines += [f"- `{d.fault.name}`: {d.not_run}" for d in not_run]
    if calibration.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in calibration.notes]
    timing = calibration.timing
    if timing:
        lines += ["", f"Time: {timing['case_runs']} case runs ({timing['case_seconds']:.0f} s "
                  f"of case time), {timing['sandbox_starts']} sandboxes started "
                  f"({timing['sandbox_start_seconds']:.0f} s)."]
    return "\n".join(lines) + "\n"


def write_outputs(calibration: Calibration, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "calibration.json"
    md_path = out_dir / "calibration.md"
    json_path.write_text(json.dumps(to_json(calibration), indent=2, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    md_path.write_text(to_markdown(calibration), encoding="utf-8")
    return json_path, md_path


def check_plan(plan: LoadedPlan, target: str | None) -> str:
    """The target calibration runs: it must use the sandbox profile and read its URL from
    CRMQA_SANDBOX_URL, as `crmqa demo` sets it."""
    name = target or plan.plan.target
    spec = plan.plan.targets.get(name)
    if spec is None:
        raise CalibrationError(f"the plan has no target {name!r}")
    if spec.profile != "sandbox" or "CRMQA_SANDBOX_URL" not in spec.base_url:
        raise CalibrationError(
            f"target {name!r} must use profile 'sandbox' and take its base_url from "
            "env.CRMQA_SANDBOX_URL (calibration starts its own sandboxes), as "
            "plans/sandbox.yaml does")
    if not spec.destructive_ok:
        raise CalibrationError(f"target {name!r} needs destructive_ok: true: without it most "
                               "cases are not applicable and cannot catch anything")
    return name


def new_out_dir(reports: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return reports / f"calibrate-{stamp}-{os.getpid()}"
