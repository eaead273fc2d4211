"""`crmqa calibrate PLAN`: how many of the sandbox's seeded faults a plan catches.

The plan runs once on a clean sandbox (no case may fail there), then against sandboxes started
with seeded faults. Running the whole plan once per fault would take the better part of an
hour, so calibration serves several faults in one sandbox when they cannot interact:

- every fault declares the surfaces where its behaviour shows (`Fault.touches`: canonical
  operations such as `lead.search`, screens such as `screen:lead_list`, `http` for what only
  raw requests see); two faults whose surfaces overlap never share a sandbox (they may change
  the same code path and mask each other);
- a case uses surfaces too, read from its steps; a faulty sandbox runs only the cases that use
  a surface of one of its faults (the other cases cannot see those faults: they count as in
  the clean run);
- a case that fails (or breaks, or is blocked) in a group run is blamed on the group's fault
  whose surfaces it uses. When it uses the surfaces of several, it runs again against each of
  those faults alone. When it uses none of them, the grouping's premise is wrong for that
  group: the group is run again fault by fault, and the report says so.

A fault is caught when at least one case is blamed on it. The verdict with a fault is the
clean run's results with the fault's cases replaced, through the plan's own gates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from crmqa.cli.calibrate_select import CASES_ENV
from crmqa.core.errors import CrmqaError
from crmqa.core.results import CaseResult, Outcome
from crmqa.plan.canonical import ENTITIES, OPERATIONS, canonical_screens
from crmqa.plan.case_sections import section_steps, sections_of
from crmqa.plan.loaded import LoadedCase, LoadedPlan
from crmqa.plan.models import OpStep, RequestStep, UiStep, WaitStep
from crmqa.sandbox.faults import CATALOGUE, Fault

# Outcomes that mean "the product did not do what the case expects" for calibration: a broken
# or blocked case on a faulty sandbox that passed on the clean one was changed by the fault.
CHANGED = frozenset({Outcome.FAILED, Outcome.BROKEN, Outcome.BLOCKED})
RUN_TIMEOUT_S = 900

ResultKey = tuple[str, str]  # (case id, parameters as JSON)


class CalibrationError(CrmqaError):
    """The plan cannot be calibrated (its target is not the sandbox, say): a usage error."""

    exit_code = 3


# ----------------------------------------------------------------------------- surfaces


def _universe() -> frozenset[str]:
    ops = {f"{entity}.{operation}" for entity in ENTITIES for operation in OPERATIONS}
    return frozenset(ops | {f"screen:{name}" for name in canonical_screens()} | {"http"}
                     | {f"migration:{entity}" for entity in ENTITIES})


UNIVERSE = _universe()


def expand(patterns: Iterable[str]) -> frozenset[str]:
    """Concrete surfaces a list of patterns (`*.update`, `screen:contact_*`) stands for."""
    out: set[str] = set()
    for pattern in patterns:
        out.add(pattern)
        out.update(surface for surface in UNIVERSE if fnmatchcase(surface, pattern))
    return frozenset(out)


def _step_surfaces(step: Any) -> set[str]:
    if isinstance(step, WaitStep):
        return _step_surfaces(step.wait_until.step)
    if isinstance(step, OpStep):
        return {step.op}
    if isinstance(step, RequestStep):
        return {"http"}
    if isinstance(step, UiStep) and step.target:
        head = step.target.split(" >> ", 1)[0].split(".", 1)[0].strip()
        if head and "=" not in head and "/" not in head and "{" not in head:
            return {f"screen:{head}"}
    # a registered kind of step says where it looks (crmqa.migration: `migration:lead`)
    surfaces = getattr(step, "surfaces", None)
    return set(surfaces()) if callable(surfaces) else set()


class _SectionStep:
    """A case section (`load:`) as the one step it runs as, with its inner steps' surfaces."""

    def __init__(self, inner: list[Any]) -> None:
        self.inner = inner

    def surfaces(self) -> set[str]:
        return set().union(*(_step_surfaces(step) for step in self.inner))


def _section_steps(case: Any) -> list[_SectionStep]:
    """One step per case section, after the case's steps, as the engine runs them."""
    inner: dict[str, list[Any]] = {key: [] for key, _ in sections_of(case)}
    for path, step in section_steps(case):
        inner[str(path[0])].append(step)
    return [_SectionStep(steps) for steps in inner.values()]


def case_surfaces(case: LoadedCase) -> frozenset[str]:
    """The surfaces a case uses: its operations, the screens it acts on, `http`."""
    return frozenset().union(*step_surfaces(case))


def step_surfaces(case: LoadedCase) -> list[frozenset[str]]:
    """The surface of each step in run order (setup, steps, teardown), numbered as results
    number them; a UI step on a raw locator is on the screen opened last."""
    body = case.case
    out: list[frozenset[str]] = []
    screen: set[str] = set()
    for step in (*body.setup, *body.steps, *_section_steps(body), *body.teardown):
        found = _step_surfaces(step)
        if isinstance(step, UiStep):
            if found:
                screen = found
            found = found or screen
        out.append(frozenset(found))
    return out


def failing_step_surfaces(case: LoadedCase, result: CaseResult) -> frozenset[str] | None:
    """The surfaces of the first step that failed or broke, or None when no step did (a case
    blocked by a dependency, a failed clean-up)."""
    surfaces = step_surfaces(case)
    for step in result.steps:
        if step.outcome in (Outcome.FAILED, Outcome.BROKEN) and step.phase in (
                "setup", "step", "teardown") and 0 < step.number <= len(surfaces):
            return surfaces[step.number - 1] or None
    return None


def overlap(first: Fault, second: Fault) -> bool:
    """Do two faults show on a common surface (and so must not share a sandbox)?"""
    return bool(expand(first.touches) & expand(second.touches))


def group_faults(faults: Sequence[Fault]) -> list[list[Fault]]:
    """Faults in groups whose members share no surface (greedy colouring, most-constrained
    first, catalogue order otherwise, so that the grouping is the same on every run)."""
    degree = {f.name: sum(overlap(f, g) for g in faults if g is not f) for f in faults}
    order = sorted(faults, key=lambda f: -degree[f.name])
    groups: list[list[Fault]] = []
    for fault in order:
        for group in groups:
            if not any(overlap(fault, member) for member in group):
                group.append(fault)
                break
        else:
            groups.append([fault])
    position = {f.name: index for index, f in enumerate(faults)}
    for group in groups:
        group.sort(key=lambda f: position[f.name])
    return sorted(groups, key=lambda g: position[g[0].name])


def check_grouping(groups: Sequence[Sequence[Fault]]) -> None:
    """Raise AssertionError when two faults in one group share a surface."""
    for group in groups:
        for index, fault in enumerate(group):
            for other in group[index + 1:]:
                if overlap(fault, other):
                    raise AssertionError(f"{fault.name} and {other.name} share a surface")


def cases_for(plan: LoadedPlan, surfaces: frozenset[str]) -> list[str]:
    """Ids of the cases that use one of `surfaces`, and the cases they depend on."""
    chosen = {c.case.id for c in plan.cases if case_surfaces(c) & surfaces}
    by_id = {c.case.id: c for c in plan.cases}
    pending = list(chosen)
    while pending:
        for dep in by_id[pending.pop()].case.depends_on:
            if dep not in chosen and dep in by_id:
                chosen.add(dep)
                pending.append(dep)
    return [c.case.id for c in plan.cases if c.case.id in chosen]


# ----------------------------------------------------------------------------- runs


@dataclass
class RunResult:
    """One pytest run of (part of) the plan on one sandbox."""

    label: str
    faults: tuple[str, ...]
    cases: list[str] | None  # None: every case
    results: dict[ResultKey, CaseResult]
    seconds: float
    exit_code: int


def result_key(result: CaseResult) -> ResultKey:
    return result.case_id, json.dumps(result.params, sort_keys=True, default=str)


Runner = Callable[[str, Sequence[str], Sequence[str] | None], RunResult]


def pytest_runner(plan_path: Path, out_dir: Path, workers: int = 1) -> Runner:
    """A runner that starts a sandbox with the faults and runs the plan on it with pytest."""
    from crmqa.reports import read_results
    from crmqa.sandbox.testing import running_sandbox

    def run(label: str, faults: Sequence[str], cases: Sequence[str] | None) -> RunResult:
        started = time.monotonic()
        reports = out_dir / "runs" / label
        command = [sys.executable, "-m", "pytest", str(plan_path), "--crmqa-reports",
                   str(reports), "--crmqa-run-id", "run", "-p", "no:cacheprovider",
                   "-p", "no:locust", "-p", "no:randomly", "-p", "crmqa.cli.calibrate_select",
                   "-q", "--no-header", "--tb=no", "-o", "console_output_style=classic",
                   "--rootdir", str(plan_path.resolve().parent), "-c", os.devnull]
        if workers > 1:
            command += ["-n", str(workers), "--dist", "loadgroup"]
        # A loaded CI machine can take a while to start a sandbox: be patient, not flaky.
        with running_sandbox(faults=list(faults), start_timeout=90) as sandbox:
            env = {**os.environ, "CRMQA_SANDBOX_URL": sandbox.base_url,
                   "CRMQA_SANDBOX_PASSWORD": sandbox.password}
            env.pop(CASES_ENV, None)
            if cases is not None:
                env[CASES_ENV] = ",".join(cases)
            log = reports.with_suffix(".log")
            reports.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w", encoding="utf-8") as output:
                completed = subprocess.run(command, env=env, stdout=output,
                                           stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S,
                                           check=False)
        run_dir = reports / "run"
        results: dict[ResultKey, CaseResult] = {}
        if (run_dir / "run.json").exists():
            _, read = read_results(run_dir)
            results = {result_key(r): r for r in read}
        elif completed.returncode not in (0, 1, 5):
            raise CrmqaError(f"calibration run {label} ended without results "
                             f"(exit {completed.returncode}); see {log}")
        return RunResult(label, tuple(faults), list(cases) if cases is not None else None,
                         results, time.monotonic() - started, completed.returncode)

    return run


# ----------------------------------------------------------------------------- calibration


@dataclass
class FaultDetection:
    """What calibration found for one fault."""

    fault: Fault
    group: int
    caught_by: list[str] = field(default_factory=list)  # "CASE-ID" or "CASE-ID[params]"
    verdict: str | None = None
    verdict_changed: bool = False
    regrouped: bool = False  # run alone because its group's premise failed

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


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

    @property
    def ok(self) -> bool:
        return not self.clean_failures and all(d.caught for d in self.detections)

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


def calibrate(plan: LoadedPlan, runner: Runner, *, faults: Sequence[Fault] = CATALOGUE,
              jobs: int = 2, progress: Callable[[str], None] = lambda _: None) -> Calibration:
    """Run the clean sandbox and every group of faults; blame failures; keep the matrix."""
    started = time.monotonic()
    by_case = {c.case.id: c for c in plan.cases}
    notes: list[str] = []
    runs: list[RunResult] = []
    lock = threading.Lock()

    def record(run: RunResult) -> RunResult:
        with lock:
            runs.append(run)
        changed = sum(r.outcome in CHANGED for r in run.results.values())
        progress(f"{run.label}: {len(run.results)} cases, {changed} failed, "
                 f"{run.seconds:.0f} s")
        return run

    clean_run = record(runner("clean", (), None))
    clean = clean_run.results
    clean_failures = sorted(_label(r) for r in clean.values() if r.outcome in CHANGED)
    if not clean:
        raise CalibrationError("the clean run produced no case results; see its log under "
                               "the calibration folder")
    clean_verdict = _verdict(plan, clean.values())

    groups = group_faults(faults)
    check_grouping(groups)
    detections = {f.name: FaultDetection(f, index) for index, g in enumerate(groups) for f in g}
    blamed: dict[str, dict[ResultKey, CaseResult]] = {f.name: {} for f in faults}

    def surfaces_of(fault: Fault) -> frozenset[str]:
        return expand(fault.touches)

    def run_group(index: int, group: list[Fault]) -> None:
        union = frozenset().union(*(surfaces_of(f) for f in group))
        cases = cases_for(plan, union)
        names = tuple(f.name for f in group)
        if not cases:
            notes.append(f"no case uses a surface of {', '.join(names)}")
            return
        run = record(runner(f"group-{index:02d}", names, cases))
        ambiguous: dict[str, list[str]] = {}
        unexplained: list[str] = []
        for result in _changed(run, clean):
            case = by_case[result.case_id]
            suspects = [f for f in group if case_surfaces(case) & surfaces_of(f)]
            failing = failing_step_surfaces(case, result)
            if len(suspects) > 1 and failing is not None:
                # The faults of a group share no surface: the step that failed names one.
                suspects = [f for f in suspects if failing & surfaces_of(f)] or suspects
            if len(suspects) == 1:
                blamed[suspects[0].name][result_key(result)] = result
            elif suspects:
                for fault in suspects:
                    ambiguous.setdefault(fault.name, []).append(result.case_id)
            else:
                unexplained.append(_label(result))
        if unexplained and len(group) > 1:
            notes.append(f"group {index} ({', '.join(names)}): {', '.join(unexplained)} "
                         "failed but use no surface of the group's faults; each fault ran "
                         "alone instead")
            for fault in group:
                detections[fault.name].regrouped = True
                alone = record(runner(f"group-{index:02d}-{fault.name}", (fault.name,),
                                      cases_for(plan, surfaces_of(fault))))
                for result in _changed(alone, clean):
                    blamed[fault.name][result_key(result)] = result
            return
        if unexplained:
            for result in _changed(run, clean):
                if _label(result) in unexplained:
                    blamed[group[0].name][result_key(result)] = result
            notes.append(f"{group[0].name}: {', '.join(unexplained)} failed although they use "
                         "none of the surfaces the fault declares: declare them in "
                         "crmqa/sandbox/faults.py")
        for name, case_ids in ambiguous.items():
            alone = record(runner(f"group-{index:02d}-{name}", (name,),
                                  sorted(set(case_ids))))
            for result in _changed(alone, clean):
                blamed[name][result_key(result)] = result
        if len(group) > 1:
            # A fault shows on a surface it failed to declare: its failures were blamed on a
            # neighbour. "Missed" is only said of a fault that also ran alone.
            for fault in group:
                if blamed[fault.name] or detections[fault.name].regrouped:
                    continue
                detections[fault.name].regrouped = True
                notes.append(f"{fault.name}: nothing blamed on it in group {index}; it ran "
                             "alone to be sure")
                alone = record(runner(f"group-{index:02d}-{fault.name}", (fault.name,),
                                      cases_for(plan, surfaces_of(fault))))
                for result in _changed(alone, clean):
                    blamed[fault.name][result_key(result)] = result

    def run_group_safely(index: int, group: list[Fault]) -> None:
        try:
            run_group(index, group)
        except (CrmqaError, OSError, subprocess.SubprocessError, RuntimeError) as error:
            # One broken run must not hide the others' results: its faults stay uncaught.
            notes.append(f"group {index} ({', '.join(f.name for f in group)}) could not run: "
                         f"{str(error).splitlines()[0]}")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(run_group_safely, i, g) for i, g in enumerate(groups)]:
            future.result()

    for fault in faults:
        detection = detections[fault.name]
        caught = blamed[fault.name]
        detection.caught_by = sorted(_label(r) for r in caught.values())
        merged = {**clean, **caught}
        detection.verdict = _verdict(plan, merged.values())
        detection.verdict_changed = detection.verdict != clean_verdict
    return Calibration(
        plan_id=plan.plan.id,
        clean_verdict=clean_verdict,
        clean_failures=clean_failures,
        detections=[detections[f.name] for f in faults],
        groups=[[f.name for f in g] for g in groups],
        notes=notes,
        runs=[{"label": r.label, "faults": list(r.faults),
               "cases": len(r.results), "seconds": round(r.seconds, 1),
               "exit_code": r.exit_code} for r in sorted(runs, key=lambda r: r.label)],
        seconds=time.monotonic() - started,
    )


# ----------------------------------------------------------------------------- outputs


def to_json(calibration: Calibration) -> dict[str, Any]:
    """The matrix as plain data (calibration.json)."""
    return {
        "plan_id": calibration.plan_id,
        "ok": calibration.ok,
        "seconds": round(calibration.seconds, 1),
        "clean": {"verdict": calibration.clean_verdict,
                  "failures": calibration.clean_failures},
        "scores": {category: {"caught": caught, "seeded": total}
                   for category, (caught, total) in sorted(calibration.scores().items())},
        "faults": [{
            "name": d.fault.name, "category": d.fault.category,
            "description": d.fault.description, "group": d.group, "caught": d.caught,
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
        f"{len(calibration.runs)} runs.",
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
        result = "caught" if d.caught else "**missed**"
        lines.append(f"| `{d.fault.name}` | {d.fault.category} | {result} | {verdict} | "
                     f"{', '.join(d.caught_by) or '—'} |")
    lines += ["", "Faults served together (no shared surface):", ""]
    lines += [f"{index}. {', '.join(group)}" for index, group in enumerate(calibration.groups)]
    if calibration.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in calibration.notes]
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
