"""Runs one case: render each step, drive it, check it, save values, clean up.

Outcomes, in the words QA engineers use:
- a failed expectation -> FAILED (the remaining steps do not run, unless the step says
  `continue_on_failure`);
- a setup step that fails -> BLOCKED, with the reason;
- a `depends_on` case that did not pass -> BLOCKED;
- a capability the target lacks -> NOT_APPLICABLE, decided before any step runs;
- the CRM down, slow or answering garbage -> BROKEN (environment);
- a template or argument that is wrong at run time -> BROKEN (test defect).
Teardown steps and the deletion of records the case created always run, also after a failure
and on KeyboardInterrupt (which is re-raised afterwards).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from crmqa.checks import RESPONSE_TIME, CheckError, SaveError, evaluate, extract_saved
from crmqa.core.errors import CrmqaError, EnvironmentProblem, PlanError
from crmqa.core.fit import FitTracker
from crmqa.core.results import (
    CLEANUP_STEP_NAME,
    MANUAL_STEP_NAME,
    Attachment,
    BrokenKind,
    CaseResult,
    CheckResult,
    LeftOutBy,
    Leftover,
    Outcome,
    StepResult,
)
from crmqa.core.timing import measure_again
from crmqa.drivers.base import StepDriver, StepOutput
from crmqa.drivers.registry import (
    EVIDENCE_MODES,
    DriverEnvironment,
    DriverRegistry,
    DriverSpec,
    EvidenceMode,
    StepDefect,
    default_registry,
)
from crmqa.engine.context import CaseContext, CaseEvidence, CreatedRecord
from crmqa.engine.reporter import NullReporter, Reporter
from crmqa.plan.case_sections import is_section, section_key, section_steps, sections_of
from crmqa.plan.effects import CHANGES, LOAD, case_effects, step_repeatable
from crmqa.plan.models import Category, Expect, OpStep, RequestStep, UiStep, WaitStep
from crmqa.plan.step_kinds import step_kinds
from crmqa.plan.templating import (
    TemplateRenderError,
    has_template,
    make_faker,
    render,
    template_references,
)
from crmqa.plan.templating import template_context as make_template_context
from crmqa.profiles.models import NoEquivalent
from crmqa.profiles.needs import field_needs
from crmqa.profiles.screens import ELEMENT_REF
from crmqa.profiles.target import ANONYMOUS, ResolvedTarget, resolve_target

OutcomeLookup = Callable[[str], Outcome | None]


def history_id(plan_id: str, case_id: str, params: dict[str, Any] | None) -> str:
    """A stable id for Allure history: plan id + case id + parameters."""
    payload = json.dumps(params or {}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(f"{plan_id}\x00{case_id}\x00{payload}".encode()).hexdigest()[:32]


def step_title(step: Any) -> str:
    """What a step does, for reports: its name, or what it is (`lead.create`, `GET /x`)."""
    if getattr(step, "name", None):
        return str(step.name)
    return step_action(step)


def step_action(step: Any) -> str:
    if isinstance(step, OpStep):
        return step.op
    if isinstance(step, RequestStep):
        return f"{step.request.method} {step.request.path}"
    if isinstance(step, UiStep):
        return f"ui {step.ui}" + (f" {step.target}" if step.target else "")
    if isinstance(step, WaitStep):
        return f"wait until ({step_action(step.wait_until.step)})"
    # A registered kind may say what it does (`describe()`); else its key says enough.
    describe = getattr(step, "describe", None)
    return str(describe()) if callable(describe) else _step_kind(step)


def _step_kind(step: Any) -> str:
    """The key that says what the step does (`op`, `ui`, or a registered kind's)."""
    for kind in step_kinds():
        if isinstance(step, kind.model):
            return kind.key
    return section_key(step) or "step"


def _label(phase: str, number: int, step: Any, title: str) -> str:
    """`step 4 'search by name' (lead.search)`, the opening of a failure message.

    `number` counts every step of the case in run order, setup included, as the results do.
    """
    prefix = f"step {number}" if phase == "step" else f"{phase} step {number}"
    action = step_action(step)
    return f"{prefix} {title!r} ({action})" if getattr(step, "name", None) else (
        f"{prefix} ({action})")


def _report_title(step: StepResult) -> str:
    """The step's title in reports: `4. search by name`, `1. setup: lead.create`."""
    phase = f"{step.phase}: " if step.phase not in ("step", "manual") else ""
    return f"{step.number}. {phase}{step.name}"


def _template_strings(value: Any) -> Iterator[str]:
    """Every string with template markup inside a dumped step."""
    if isinstance(value, str):
        if has_template(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _template_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _template_strings(item)


class _StepOutcome(Exception):
    """Internal: a step ended other than passed, with its outcome and message."""

    def __init__(self, outcome: Outcome, message: str, kind: BrokenKind | None = None,
                 checks: list[CheckResult] | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.kind = kind
        self.checks = checks or []


class Engine:
    """Runs the cases of one loaded plan against one target, in one worker."""

    def __init__(
        self,
        loaded_plan: Any,
        target_name: str | None,
        run_dir: Path,
        worker_id: str,
        reporter: Reporter | None = None,
        outcome_of: OutcomeLookup | None = None,
        *,
        evidence: EvidenceMode = "retain-on-failure",
        registry: DriverRegistry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if evidence not in EVIDENCE_MODES:
            raise CrmqaError(f"evidence must be one of {', '.join(EVIDENCE_MODES)}, "
                             f"not {evidence!r}")
        self.loaded_plan = loaded_plan
        self.plan = loaded_plan.plan
        self.base_dir = Path(loaded_plan.base_dir)
        self.run_dir = Path(run_dir)
        self.worker_id = worker_id
        self.reporter: Reporter = reporter or NullReporter()
        self.outcome_of = outcome_of
        self.evidence_mode: EvidenceMode = evidence
        self.registry = registry or default_registry()
        self._sleep = sleep
        self.target_name = (target_name or self.plan.target).strip()
        if self.target_name not in self.plan.targets:
            known = ", ".join(sorted(self.plan.targets))
            raise PlanError([_issue(f"the plan has no target {self.target_name!r} "
                                    f"(targets: {known})")])
        # A target whose URL or credentials are missing from the environment breaks every case
        # with a clear reason rather than stopping the whole run with a traceback.
        self.target: ResolvedTarget | None = None
        self.target_problem: str | None = None
        try:
            self.target = resolve_target(self.target_name, self.plan.targets[self.target_name],
                                         self.base_dir)
        except EnvironmentProblem as exc:
            self.target_problem = str(exc)
        data = self.plan.data
        self._faker = _LazyFaker(lambda: make_faker(data.locale, data.seed, worker_id))
        self._unique_prefix = f"{_slug(worker_id)}-{secrets.token_hex(3)}"
        self._unique_counter = itertools.count(1)
        self._drivers: dict[str, StepDriver] = {}
        self._needs_cache: dict[int, tuple[Any, list[str]]] = {}
        self._template_cache: dict[int, tuple[Any, Any, bool]] = {}
        self._saved_refs_cache: dict[int, tuple[Any, set[str]]] = {}
        # what the target's set-up says of a case does not change during a run: worked out
        # once per case, not once per parameter set
        self._left_out_cache: dict[int, tuple[Any, list[str], str | None]] = {}
        self._probed: set[str] = set()
        self._fit = FitTracker()

    # ------------------------------------------------------------------ public

    def missing_capabilities(self, case: Any) -> list[str]:
        """Capabilities the case needs that the target's profile does not declare."""
        if self.target is None:
            return []
        profile = self.target.profile
        identities = self.target.identities
        missing = []
        flags = {CHANGES: self.target.target.destructive_ok, LOAD: self.target.target.load_ok}
        for need in self._needs(case):
            if need in flags:
                if not flags[need]:
                    missing.append(need)
            elif need.startswith("identity:"):
                # A portable suite may act as a role this target does not have (`viewer`).
                if need.split(":", 1)[1] not in identities:
                    missing.append(need)
            elif need.startswith("driver:") or not profile.supports(need):
                missing.append(need)
        return missing

    def run_case(self, loaded_case: Any, params: dict[str, Any] | None = None) -> CaseResult:
        """Run one case (once, with `params` when parametrised) and return its result.

        Every answer an operation gets also feeds the profile-fit rule (crmqa.core.fit): once
        an operation is known not to fit the target, later cases that use it are not sent.
        """
        case = getattr(loaded_case, "case", loaded_case)
        params = dict(params or {})
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        result = CaseResult(
            plan_id=self.plan.id, case_id=case.id, title=case.title,
            titles={lang: t.title for lang, t in case.translations.items() if t.title},
            category=case.category.value, module=case.module, severity=case.severity,
            priority=case.priority, tags=list(case.tags), requirements=list(case.requirements),
            params=params, history_id=history_id(self.plan.id, case.id, params),
            outcome=Outcome.PASSED, started_at=started_at, worker=self.worker_id,
        )
        try:
            self._run(case, params, result)
        finally:
            result.duration_ms = (time.perf_counter() - clock) * 1000
            self._fit.observe_case(result)
        return result

    def close(self) -> None:
        """Close every driver this engine opened (sessions, browsers)."""
        drivers, self._drivers = self._drivers, {}
        for driver in drivers.values():
            with contextlib.suppress(Exception):  # closing must not hide the run's results
                driver.close()

    # ------------------------------------------------------------------ case

    def _run(self, case: Any, params: dict[str, Any], result: CaseResult) -> None:
        if case.category is Category.MANUAL:
            self._finish_manual(case, result)
            return
        blocked = self._blocked_by_dependency(case)
        if blocked:
            self._finish(result, Outcome.BLOCKED, blocked)
            if blocked.endswith("(not run)"):  # its dependency was not selected to run
                result.left_out_by = LeftOutBy.SELECTION
            return
        if self.target_problem is not None:
            self._finish(result, Outcome.BROKEN, self.target_problem, BrokenKind.ENVIRONMENT)
            return
        assert self.target is not None
        missing, refused = self._left_out_by_target(case)
        if missing:
            self._finish(result, Outcome.NOT_APPLICABLE, self._not_applicable(missing))
            # The target's own set-up (its flags, its identities) left the case out, not
            # the product: the gates must not read that as the product's doing.
            if any(m in (CHANGES, LOAD) or m.startswith("identity:") for m in missing):
                result.left_out_by = LeftOutBy.TARGET
            return
        if refused:
            # The target's set-up (not the product) keeps the case from running here.
            self._finish(result, Outcome.NOT_APPLICABLE, refused)
            result.left_out_by = LeftOutBy.TARGET
            return
        # Refused writes are judged at the end: a later case may still show one accepted.
        unfit = [m for m in (self._fit.misfit(need, refusals=False)
                             for need in self._needs(case)) if m]
        if unfit:
            self._finish(result, Outcome.BROKEN, f"{unfit[0].message()}; not sent",
                         BrokenKind.ENVIRONMENT)
            return

        saved: dict[str, Any] = {}
        if self.plan.data.seed is not None:
            # Each case gets its own repeatable data, whatever ran before it in this worker.
            self._faker.reseed(f"{self.plan.data.seed}:{case.id}:{result.history_id}")
        tctx = make_template_context(
            fake=self._faker,  # type: ignore[arg-type]  # a lazy stand-in for Faker
            vars=self.plan.data.vars, saved=saved, params=params,
            rules=self.plan.requirements,
            unique=f"{self._unique_prefix}-{next(self._unique_counter)}",
        )
        if has_template(case.title):
            # The title is cosmetic; a bad template there is reported by the steps that use it.
            with contextlib.suppress(TemplateRenderError):
                result.title = str(render(case.title, tctx))
        ctx = CaseContext(
            case_id=case.id, worker_id=self.worker_id,
            evidence=CaseEvidence(self.run_dir, f"{case.id}-{result.history_id[:8]}"),
            resolved_target=self.target, evidence_mode=self.evidence_mode,
            templates=tctx, progress=getattr(self.reporter, "progress", None),
        )
        # A case section (`load:`) runs as one more step, through the driver registered for it.
        body = [*case.steps, *(section for _, section in sections_of(case))]
        teardown_done = False
        try:
            if self._phase("setup", case.setup, tctx, ctx, result):
                self._phase("step", body, tctx, ctx, result)
            else:
                for step in body:
                    self._skip(result, "step", step, tctx, "not run: setup did not pass")
            teardown_done = True
            self._phase("teardown", case.teardown, tctx, ctx, result)
        finally:
            try:
                if not teardown_done:  # interrupted: still undo what we can
                    self._phase("teardown", case.teardown, tctx, ctx, result)
            finally:
                self._cleanup(ctx, result)

    def _phase(self, phase: str, steps: list[Any], tctx: dict[str, Any], ctx: CaseContext,
               result: CaseResult) -> bool:
        """Run the steps of one phase; False when the case must stop."""
        stopped = False
        for step in steps:
            if stopped:
                self._skip(result, phase, step, tctx, "not run: an earlier step did not pass")
                continue
            if phase == "teardown":
                # A teardown that undoes what a failed step never made has nothing to undo.
                unsaved = sorted(self._saved_references(step) - set(tctx["saved"]))
                if unsaved:
                    self._skip(result, phase, step, tctx,
                               f"not run: saved.{unsaved[0]} was never saved (the step that "
                               "saves it did not run or did not pass)")
                    continue
            step_result = self._run_step(phase, step, tctx, ctx, len(result.steps) + 1)
            result.steps.append(step_result)
            if step_result.outcome is Outcome.PASSED:
                continue
            if phase == "teardown":
                continue  # teardown keeps going; its failures do not change the verdict
            if result.outcome is Outcome.PASSED:
                if phase == "setup" and step_result.outcome is Outcome.FAILED:
                    self._finish(result, Outcome.BLOCKED, f"setup failed: {step_result.message}")
                else:
                    self._finish(result, step_result.outcome, step_result.message,
                                 step_result.broken_kind)
            keep_going = (step_result.outcome is Outcome.FAILED and phase == "step"
                          and getattr(step, "continue_on_failure", False))
            if not keep_going:
                stopped = True
        return not stopped

    def _skip(self, result: CaseResult, phase: str, step: Any, tctx: dict[str, Any],
              message: str) -> None:
        """Record a step that did not run, in the results and in the report's step tree."""
        skipped = StepResult(
            number=len(result.steps) + 1, phase=phase, name=self._title(step, tctx),
            kind=_step_kind(step), action=step_action(step), outcome=Outcome.SKIPPED,
            message=message,
        )
        result.steps.append(skipped)
        self._report(skipped)

    def _report(self, step: StepResult) -> None:
        """Show a step that the engine did not run through a driver (skipped, clean-up)."""
        with self.reporter.step(_report_title(step)) as scope:
            set_result = getattr(scope, "set_result", None)
            if callable(set_result):
                set_result(step)

    @staticmethod
    def _title(step: Any, tctx: dict[str, Any]) -> str:
        """The step's title with its templates rendered (`create {{ params.kind }}` reads
        `create partner`); the written text when it cannot be rendered yet."""
        title = step_title(step)
        if has_template(title):
            with contextlib.suppress(TemplateRenderError):
                return str(render(title, tctx))
        return title

    def _saved_references(self, step: Any) -> set[str]:
        """Names of the saved values a step's templates use (`saved.lead_id` -> lead_id)."""
        cached = self._saved_refs_cache.get(id(step))
        if cached is not None and cached[0] is step:
            return cached[1]
        names: set[str] = set()
        for text in _template_strings(step.model_dump(by_alias=True, exclude_unset=True)):
            names.update(attribute for name, attribute in template_references(text)
                         if name == "saved" and attribute is not None)
        self._saved_refs_cache[id(step)] = (step, names)
        return names

    # ------------------------------------------------------------------ one step

    def _run_step(self, phase: str, step: Any, tctx: dict[str, Any], ctx: CaseContext,
                  number: int) -> StepResult:
        step_result = StepResult(number=number, phase=phase, name=self._title(step, tctx),
                                 kind=_step_kind(step), action=step_action(step),
                                 outcome=Outcome.PASSED)
        label = _label(phase, number, step, step_result.name)
        clock = time.perf_counter()
        with self.reporter.step(_report_title(step_result)) as scope:
            try:
                rendered = self._render_step(step, tctx)
                if isinstance(rendered, WaitStep):
                    output, checks = self._wait_until(rendered, ctx, label)
                    save = rendered.save
                else:
                    output = self._drive(rendered, ctx)
                    step_result.attachments.extend(output.attachments)
                    for attachment in output.attachments:  # driver evidence reaches Allure too
                        self.reporter.attach(attachment)
                    checks = list(output.checks)
                    expect = getattr(rendered, "expect", None)  # a case section has none
                    if expect is not None:
                        checks.extend(evaluate(expect, output, self.base_dir))
                        checks = self._timed_again(rendered, expect, output, checks, ctx)
                    save = getattr(rendered, "save", None) or {}
                step_result.status, step_result.answer = output.status, output.outcome
                step_result.checks = checks
                failed = [check for check in checks if not check.ok]
                if failed:
                    more = f" (and {len(failed) - 1} more failed checks)" if len(failed) > 1 else ""
                    where = f" — {output.summary}" if output.summary else ""
                    raise _StepOutcome(Outcome.FAILED,
                                       f"{label}: {failed[0].message}{more}{where}")
                if save:
                    self._save(save, output, tctx, label)
            except _StepOutcome as stop:
                step_result.outcome = stop.outcome
                step_result.message = stop.message
                step_result.broken_kind = stop.kind
                if stop.checks:
                    step_result.checks = stop.checks
            except NoEquivalent as exc:
                # The target cannot be asked this (a value it has no equivalent for).
                step_result.outcome = Outcome.NOT_APPLICABLE
                step_result.message = f"{label}: {exc}"
            except EnvironmentProblem as exc:
                self._broken(step_result, f"{label}: {exc}", BrokenKind.ENVIRONMENT)
            except (TemplateRenderError, StepDefect, CheckError) as exc:
                self._broken(step_result, f"{label}: {exc}", BrokenKind.TEST_DEFECT)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                self._broken(step_result, f"{label}: after templating, {where}: {first['msg']}",
                             BrokenKind.TEST_DEFECT)
            except PlanError as exc:
                self._broken(step_result, f"{label}: {exc}", BrokenKind.TEST_DEFECT)
            except Exception as exc:  # a bug in crmqa or a driver: say so, keep the run going
                self._broken(step_result, f"{label}: crmqa error {type(exc).__name__}: {exc}",
                             BrokenKind.CRMQA)
            finally:
                step_result.duration_ms = (time.perf_counter() - clock) * 1000
                keep = self.evidence_mode == "on" or (
                    self.evidence_mode == "retain-on-failure"
                    and step_result.outcome is not Outcome.PASSED)
                for attachment in ctx.take_evidence(keep):
                    step_result.attachments.append(attachment)
                    self.reporter.attach(attachment)
                set_result = getattr(scope, "set_result", None)
                if callable(set_result):
                    set_result(step_result)
        return step_result

    @staticmethod
    def _broken(step_result: StepResult, message: str, kind: BrokenKind) -> None:
        step_result.outcome = Outcome.BROKEN
        step_result.message = message
        step_result.broken_kind = kind

    def _render_step(self, step: Any, tctx: dict[str, Any]) -> Any:
        """The step with its templates resolved; untemplated steps are used as they are.

        A case section is handed over as written: its driver renders its templates itself,
        from `ctx.templates` (a load renders them anew for every virtual user and run).
        """
        if is_section(step):
            return step
        # Keyed by id() but holding the step itself, so a recycled id can never match.
        cached = self._template_cache.get(id(step))
        if cached is None or cached[0] is not step:
            dumped = step.model_dump(by_alias=True, exclude_unset=True)
            cached = (step, dumped, next(_template_strings(dumped), None) is not None)
            self._template_cache[id(step)] = cached
        _, dumped, templated = cached
        if not templated:
            return step
        return type(step).model_validate(render(dumped, tctx))

    def _driver_for(self, step: Any) -> StepDriver:
        return self._driver_of(self.registry.spec_for(step))

    def _driver_of(self, spec: DriverSpec) -> StepDriver:
        driver = self._drivers.get(spec.name)
        if driver is None:
            assert self.target is not None
            driver = spec.factory(DriverEnvironment(
                target=self.target, worker_id=self.worker_id, run_dir=self.run_dir,
                base_dir=self.base_dir, evidence=self.evidence_mode, plan=self.plan,
            ))
            self._drivers[spec.name] = driver
        return driver

    def _drive(self, step: Any, ctx: CaseContext) -> StepOutput:
        driver = self._driver_for(step)
        ctx.current_driver = driver
        if driver.name not in self._probed:
            self._probe(driver)
        return driver.run(step, ctx)

    def _timed_again(self, step: Any, expect: Expect, output: StepOutput,
                     checks: list[CheckResult], ctx: CaseContext) -> list[CheckResult]:
        """`checks`, with a missed response-time budget of a read measured again.

        One request's time on a busy machine is noisy: a read that only missed its budget
        is sent `TIMING_SAMPLES - 1` more times and judged by the median of all its times
        (crmqa.core.timing, the rule the UI driver's timings follow too),
        so a moment of load on the test machine is not taken for a slow CRM while a CRM that
        is slow every time still fails. A step that may change records is never sent twice.
        """
        failed = [check for check in checks if not check.ok]
        if (not failed or any(check.name != RESPONSE_TIME for check in failed)
                or not step_repeatable(step)):
            return checks
        if not isinstance(step, OpStep | RequestStep):
            # Another kind of step is done again only when its driver says that doing it
            # again measures the same thing and leaves the case as it was (a UI `open`).
            same = getattr(self._driver_for(step), "repeats_unchanged", None)
            if not (callable(same) and same(step)):
                return checks
        samples = measure_again(output.elapsed_ms, lambda: self._drive(step, ctx).elapsed_ms)
        timed = dataclasses.replace(output, elapsed_ms=samples.median)
        (judged,) = [check for check in evaluate(expect, timed, self.base_dir)
                     if check.name == RESPONSE_TIME]
        judged = judged.model_copy(update={
            "actual": round(samples.median, 1),
            "message": f"{judged.message} {samples.note()}" if not judged.ok else ""})
        return [judged if check.name == RESPONSE_TIME else check for check in checks]

    def _probe(self, driver: StepDriver) -> None:
        """Before a driver's first step: is the target there, and does the profile fit it?

        A driver may offer `probe()` (the API driver checks the health path and logs in).
        If it fails, every later case of this worker ends broken (environment) unsent.
        """
        self._probed.add(driver.name)
        probe = getattr(driver, "probe", None)
        if not callable(probe):
            return
        try:
            probe()
        except EnvironmentProblem as problem:
            self.target_problem = f"the target is not ready for the run: {problem}"
            raise EnvironmentProblem(self.target_problem) from None

    def _save(self, save: dict[str, str], output: StepOutput, tctx: dict[str, Any],
              label: str) -> None:
        try:
            values = extract_saved(save, output.data)
        except SaveError as exc:
            succeeded = output.outcome in (None, "ok") and (output.status or 200) < 400
            if succeeded:  # the CRM answered fine: the path is what is wrong
                raise _StepOutcome(Outcome.BROKEN, f"{label}: {exc}", BrokenKind.TEST_DEFECT
                                   ) from None
            where = f" — {output.summary}" if output.summary else ""
            raise _StepOutcome(Outcome.FAILED,
                               f"{label}: {exc} (outcome {output.outcome!r}){where}") from None
        tctx["saved"].update(values)

    # ------------------------------------------------------------------ wait_until

    def _wait_until(self, step: WaitStep, ctx: CaseContext,
                    label: str) -> tuple[StepOutput, list[CheckResult]]:
        spec = step.wait_until
        deadline = time.monotonic() + spec.timeout_s
        attempts = 0
        while True:
            attempts += 1
            output = self._drive(spec.step, ctx)
            if spec.failure is not None and _has_expectations(spec.failure):
                failure_checks = evaluate(spec.failure, output, self.base_dir)
                if all(check.ok for check in failure_checks):
                    shown = "; ".join(_describe(c) for c in failure_checks)
                    raise _StepOutcome(
                        Outcome.FAILED,
                        f"{label}: failure condition met after {attempts} attempt"
                        f"{'s' if attempts > 1 else ''} ({shown}) — {output.summary}",
                        checks=failure_checks,
                    )
            checks = evaluate(spec.success, output, self.base_dir)
            if all(check.ok for check in checks):
                return output, checks
            if time.monotonic() + spec.interval_s > deadline:
                first = next(check for check in checks if not check.ok)
                raise _StepOutcome(
                    Outcome.FAILED,
                    f"{label}: not met within {spec.timeout_s:g} s ({attempts} attempt"
                    f"{'s' if attempts > 1 else ''}); last: {first.message} — {output.summary}",
                    checks=checks,
                )
            ctx.take_evidence(False)  # only the last attempt's evidence is worth keeping
            self._sleep(spec.interval_s)

    # ------------------------------------------------------------------ before & after

    def _needs(self, case: Any) -> list[str]:
        cached = self._needs_cache.get(id(case))
        if cached is not None and cached[0] is case:
            return cached[1]
        needs: list[str] = []
        # A case section (`load:`) needs what its driver says, and what its inner steps need.
        phased = [*(("setup", step) for step in case.setup),
                  *(("step", step) for step in case.steps),
                  *(("step", section) for _, section in sections_of(case)),
                  *(("step", step) for _, step in section_steps(case)),
                  *(("teardown", step) for step in case.teardown)]
        for phase, step in phased:
            inner = step.wait_until.step if isinstance(step, WaitStep) else step
            acting_as = getattr(inner, "as_", None)
            if isinstance(acting_as, str) and acting_as != ANONYMOUS and not has_template(
                    acting_as):
                needs.append(f"identity:{acting_as}")
            if isinstance(inner, OpStep):
                needs.append(inner.op)
                needs.extend(field_needs(inner, phase))  # the fields it uses (profile may lack)
                continue
            if isinstance(inner, RequestStep):
                continue
            try:
                driver = self._driver_for(inner)
            except CrmqaError:
                needs.append(f"driver:{_step_kind(inner)}")
                continue
            needs.extend(driver.needs(inner))
            if isinstance(inner, UiStep):
                needs.extend(_element_needs(inner))
        needs.extend(case.needs)
        needs.extend(case_effects(case))
        unique = list(dict.fromkeys(needs))
        self._needs_cache[id(case)] = (case, unique)
        return unique

    def _left_out_by_target(self, case: Any) -> tuple[list[str], str | None]:
        """The case's missing capabilities and the target's refusal, once per case."""
        cached = self._left_out_cache.get(id(case))
        if cached is None or cached[0] is not case:
            missing = self.missing_capabilities(case)
            cached = (case, missing, None if missing else self._refusal(case))
            self._left_out_cache[id(case)] = cached
        return cached[1], cached[2]

    def _refusal(self, case: Any) -> str | None:
        """Why the target's set-up keeps the case from running, or None.

        A driver may offer `refusal(step) -> str | None` for what the plan's flags cannot say
        (a load against a CRM that is not on this machine, without the run's confirmation).
        """
        for step in [*case.setup, *case.steps, *(s for _, s in sections_of(case))]:
            try:
                driver = self._driver_for(step)
            except CrmqaError:
                continue  # reported as a missing driver
            refusal = getattr(driver, "refusal", None)
            reason = refusal(step) if callable(refusal) else None
            if reason:
                return str(reason)
        return None

    def _not_applicable(self, missing: list[str]) -> str:
        assert self.target is not None
        drivers = [m.split(":", 1)[1] for m in missing if m.startswith("driver:")]
        identities = [m.split(":", 1)[1] for m in missing if m.startswith("identity:")]
        caps = [m for m in missing
                if not m.startswith(("driver:", "identity:")) and m not in (CHANGES, LOAD)]
        # A missing screen says it all: do not also list each of its elements.
        screens = {m for m in caps if m.startswith("screen:") and "." not in m}
        caps = [m for m in caps if not (m.startswith("screen:") and "." in m
                                        and m.split(".", 1)[0] in screens)]
        parts = [f"target {self.target_name!r} has no identity {name!r}" for name in identities]
        if CHANGES in missing:
            parts.append(f"target {self.target_name!r} does not allow changes to its records "
                         "(set destructive_ok: true on the target if this CRM may be changed)")
        if LOAD in missing:
            parts.append(f"target {self.target_name!r} does not allow load (set load_ok: true "
                         "on the target if performance cases may run against it)")
        # The profile's own reasons (`not_applicable:`, a field with no equivalent) first.
        profile = self.target.profile
        reasons = {cap: profile.unsupported_reason(cap) for cap in caps}
        explained = [cap for cap in caps if reasons[cap]]
        caps = [cap for cap in caps if not reasons[cap]]
        if explained:
            by_reason: dict[str, list[str]] = {}
            for cap in explained:
                by_reason.setdefault(str(reasons[cap]), []).append(cap.removeprefix("field:"))
            parts.append(f"target {self.target_name!r} (profile {profile.name!r}): " + "; ".join(
                f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()))
        if caps:
            parts.append(f"target {self.target_name!r} (profile {self.target.profile.name!r}) "
                         f"does not support {', '.join(caps)}")
        if drivers:
            parts.append(f"no driver is installed for {', '.join(drivers)} steps")
        return "; ".join(parts)

    def _blocked_by_dependency(self, case: Any) -> str | None:
        if not case.depends_on or self.outcome_of is None:
            return None
        for dependency in case.depends_on:
            outcome = self.outcome_of(dependency)
            if outcome is not Outcome.PASSED:
                state = outcome.value if outcome is not None else "not run"
                return f"depends on {dependency}, which did not pass ({state})"
        return None

    def _cleanup(self, ctx: CaseContext, result: CaseResult) -> None:
        """Delete what the case created, newest first, as an admin-capable identity.

        Each record goes to the first driver that says it can delete its entity (registration
        order: the API before the UI), else to the driver that created it; a record known only
        by the values entered is first found again. What stays is listed in `result.leftovers`
        and reported as a broken clean-up step.
        """
        if not ctx.created:
            return
        assert self.target is not None
        admin = self.target.admin_identity
        clock = time.perf_counter()
        for record in reversed(ctx.created):
            identity = admin if admin in self.target.identities else record.identity
            try:
                self._delete_created(record, identity, result)
            except Exception as exc:  # report every leftover, never stop cleaning
                result.leftovers.append(_leftover(record, record.record_id, str(exc)))
        ctx.take_evidence(False)
        if result.leftovers:
            cleanup = StepResult(
                number=len(result.steps) + 1, phase="cleanup", name=CLEANUP_STEP_NAME,
                kind="cleanup",
                outcome=Outcome.BROKEN, broken_kind=BrokenKind.ENVIRONMENT,
                message="could not delete " + "; ".join(
                    f"{self._record_label(left)}: {left.reason}" for left in result.leftovers),
                duration_ms=(time.perf_counter() - clock) * 1000,
            )
            result.steps.append(cleanup)
            self._report(cleanup)

    def _delete_created(self, record: CreatedRecord, identity: str, result: CaseResult) -> None:
        """Delete one tracked record, found first when only its values are known."""
        entity = record.entity
        record_id = record.record_id
        if record_id is None:
            record_id = self._find_created(record, identity)
            if record_id is None:
                return  # the CRM kept nothing
        deleter = self._cleanup_driver(entity, record.driver)
        if deleter is None:
            result.leftovers.append(_leftover(
                record, record_id, f"no driver can delete a {entity}: the profile has no "
                f"{entity}.delete and no {entity}_delete screen"))
            return
        try:
            deleter.cleanup(entity, record_id, identity)
        except Exception as exc:  # reported as a leftover, like every other
            result.leftovers.append(_leftover(record, record_id, str(exc)))

    def _find_created(self, record: CreatedRecord, identity: str) -> Any:
        """The id of a record a case created without showing it, found by unique values.

        Only values that single a record out (e-mails, texts with this run's `{{ unique }}`
        token) are searched for, and exactly one record must hold them all: crmqa deletes only
        what it can tell the case created. None: nothing found, the CRM did not keep the record.
        """
        entity = record.entity
        unique = _unique_values(record.values, self._unique_prefix)
        if not unique:
            raise CrmqaError(
                "its id was not shown and none of the values entered is unique (an e-mail, or "
                "text with {{ unique }}) to find it by")
        for driver in self._registered_drivers():
            find = getattr(driver, "find_created", None)
            if not callable(find):
                continue
            ids = find(entity, unique, identity)
            if ids is None:
                continue
            found = list(dict.fromkeys(ids))
            if len(found) > 1:
                raise CrmqaError(f"{len(found)} {entity} records hold "
                                 f"{_shown_values(unique)} (ids {', '.join(map(str, found))}); "
                                 "none was deleted, since crmqa cannot tell which it created")
            return found[0] if found else None
        raise CrmqaError(f"its id was not shown and the profile can neither search nor list "
                         f"{entity} records to find it")

    def _cleanup_driver(self, entity: str, creator: Any) -> StepDriver | None:
        """The driver that deletes records of `entity` (see `_cleanup`)."""
        if creator is not None and not callable(getattr(creator, "can_delete", None)):
            return cast(StepDriver, creator)  # says nothing about others: trust its own cleanup
        for driver in self._registered_drivers():
            can_delete = getattr(driver, "can_delete", None)
            if callable(can_delete) and can_delete(entity):
                return driver
        return None

    def _record_label(self, left: Leftover) -> str:
        """`lead 42`, or `lead with email='a@b.test'` (its unique values) when no id was seen."""
        if left.record_id is not None:
            return f"{left.entity} {left.record_id}"
        values = _unique_values(left.values, self._unique_prefix) or left.values
        return f"{left.entity} with {_shown_values(values) or 'no values'}"

    def _registered_drivers(self) -> Iterator[StepDriver]:
        """Every registered driver, in registration order, built on demand."""
        for spec in self.registry.specs():
            try:
                yield self._driver_of(spec)
            except CrmqaError:
                continue  # a driver that cannot be built here cannot clean up either

    def _finish_manual(self, case: Any, result: CaseResult) -> None:
        """A person's recorded result counts like any other case's; none recorded is skipped."""
        recorded = self.loaded_plan.manual_results.get(case.id)
        if recorded is None:
            self._finish(result, Outcome.SKIPPED,
                         "manual case: no result recorded in the manual results file")
            return
        outcome = _MANUAL_OUTCOMES[recorded.result]
        when = f" on {recorded.date}" if recorded.date else ""
        message = f"manual result '{recorded.result}' by {recorded.tester}{when}"
        if recorded.notes:
            message += f": {recorded.notes}"
        if recorded.evidence:
            message += f" (evidence: {recorded.evidence})"
            result.steps.append(StepResult(
                number=1, phase="manual", name=MANUAL_STEP_NAME, kind="manual",
                outcome=outcome, message=message,
                attachments=[Attachment(name="evidence link", text=recorded.evidence)],
            ))
        self._finish(result, outcome, "" if outcome is Outcome.PASSED else message)

    @staticmethod
    def _finish(result: CaseResult, outcome: Outcome, message: str,
                kind: BrokenKind | None = None) -> None:
        result.outcome = outcome
        result.message = message
        result.broken_kind = kind if outcome is Outcome.BROKEN else None


_MANUAL_OUTCOMES = {
    "passed": Outcome.PASSED,
    "failed": Outcome.FAILED,
    "blocked": Outcome.BLOCKED,
    "not_run": Outcome.SKIPPED,
}


class _LazyFaker:
    """Builds the Faker (about half a second) only when a template first uses `fake`."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._faker: Any = None
        self._seed: str | None = None

    def reseed(self, seed: str) -> None:
        if self._faker is None:
            self._seed = seed
        else:
            self._faker.seed_instance(seed)

    def _real(self) -> Any:
        if self._faker is None:
            self._faker = self._factory()
            if self._seed is not None:
                self._faker.seed_instance(self._seed)
        return self._faker

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._real(), name)

    def __getitem__(self, locale: str) -> Any:
        return self._real()[locale]


def _element_needs(step: UiStep) -> list[str]:
    """`screen:lead_list.search` for each screen element a UI step names outright.

    A screen the product has may still lack an element (a list without a search box): the
    case is then not applicable rather than broken. Templated names are checked at run time.
    """
    needs: list[str] = []
    target = (step.target or "").split(" >> ", 1)[0].strip()
    match = ELEMENT_REF.fullmatch(target) if "=" not in target else None
    if match is None or has_template(target):
        return needs
    screen, element = match.group(1), match.group(2)
    if element is not None:
        needs.append(f"screen:{screen}.{element}")
    # Only `fill` names elements in `values` (`open` gives URL parameters there).
    for key in (step.values or {}) if step.ui == "fill" else {}:
        if has_template(key):
            continue
        key_match = ELEMENT_REF.fullmatch(key)
        if key_match is None:
            continue
        if key_match.group(2) is not None:
            needs.append(f"screen:{key}")
        elif element is None:
            needs.append(f"screen:{screen}.{key}")
    return needs


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())[:12] or "w"


def _has_expectations(expect: Expect) -> bool:
    return bool(expect.model_fields_set)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _unique_values(values: dict[str, str], run_token: str) -> dict[str, str]:
    """The entered values that find one record again: e-mails and texts with the run's token."""
    return {name: value for name, value in values.items()
            if _EMAIL.fullmatch(value.strip()) or (run_token and run_token in value)}


def _shown_values(values: dict[str, str]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items())


def _leftover(record: CreatedRecord, record_id: Any, reason: str) -> Leftover:
    # Values longer than a line are cut: they only help a person find the record.
    shown = {name: value if len(value) <= 200 else value[:197] + "..."
             for name, value in record.values.items()}
    return Leftover(entity=record.entity, record_id=record_id, identity=record.identity,
                    reason=reason, values=shown)


def _describe(check: CheckResult) -> str:
    return f"{check.name} is {check.actual!r}"


def _issue(message: str) -> Any:
    from crmqa.core.errors import PlanIssue

    return PlanIssue(message)


__all__ = ["Attachment", "Engine", "history_id", "step_title"]
