"""What a virtual user does: run a task's steps through the profile, and count each one.

A step here is the step of a functional case: its templates are rendered for this user and
this run of the task (`fake`, `unique`, `saved`, `vars`, `params`, `rules`), the canonical
operation goes through the API driver's `OperationRunner` (the target's profile), `expect`
is checked by the checks library, `save` keeps values for the next steps. Each step becomes
one Locust sample named after its operation (`lead.create`, or `GET /path` for a request),
in the scenario's row: its time is the time of the HTTP requests it took (a login is a
sample of its own), it fails when its expectations do (an operation without `expect` must
succeed: outcome ok; a request: a status below 400).

A mistake in the plan that shows only now (a template that cannot render, arguments an
operation cannot take) is not the CRM's failure: it is reported as a problem, never as a
failed request, and the load stops (crmqa reports the case broken).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from crmqa.checks import CheckError, SaveError, evaluate, extract_saved
from crmqa.core.errors import EnvironmentProblem, PlanError
from crmqa.drivers.api.mapping import field_errors
from crmqa.drivers.api.operations import CONVERT_CREATES, OperationError, OperationRunner
from crmqa.drivers.base import StepOutput
from crmqa.load.model import request_name
from crmqa.load.stats import AUTH_TYPE
from crmqa.plan.models import OpStep, RequestStep
from crmqa.plan.templating import TemplateRenderError, has_template, render, template_context
from crmqa.profiles.adapter import OperationCall, OperationResult, ProfileAdapter
from crmqa.profiles.models import NoEquivalent, Profile
from crmqa.profiles.target import ANONYMOUS


class LoadFailure(Exception):
    """A step the CRM did not serve as expected (what Locust records as a failure)."""


@dataclass
class CompiledStep:
    """A load step ready to run many times: its model, name, and what to render."""

    model: OpStep | RequestStep
    name: str
    dumped: dict[str, Any]
    templated: bool
    identity: str | None  # the step's `as`, else its scenario's; None: the default

    @classmethod
    def of(cls, step: OpStep | RequestStep, scenario_identity: str | None) -> CompiledStep:
        dumped = step.model_dump(by_alias=True, exclude_unset=True)
        return cls(step, request_name(step), dumped, _has_templates(dumped),
                   step.as_ or scenario_identity)


def _has_templates(value: Any) -> bool:
    if isinstance(value, str):
        return has_template(value)
    if isinstance(value, dict):
        return any(_has_templates(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_templates(item) for item in value)
    return False


@dataclass
class Counted:
    """What a step's requests add up to, for its one sample."""

    elapsed_ms: float = 0.0
    size: int = 0
    requests: int = 0
    logins: list[Any] = field(default_factory=list)

    def take(self, exchange: Any) -> None:
        if getattr(exchange, "login", False):
            self.logins.append(exchange)
            return
        self.requests += 1
        self.elapsed_ms += exchange.elapsed_ms
        response = exchange.response
        self.size += len(response.content) if response is not None and response.content else 0


Fire = Callable[..., None]


class FlowRunner:
    """Runs compiled steps for virtual users of one process (shared, stateless per user)."""

    def __init__(self, *, profile: Profile, runner: OperationRunner,
                 adapter: ProfileAdapter | None, base_dir: Path, fire: Fire,
                 templates: dict[str, Any], faker: Any, token: str,
                 default_identity: str, journal: Any, problems: Any) -> None:
        self.profile = profile
        self.runner = runner
        self.adapter = adapter
        self.base_dir = base_dir
        self.fire = fire
        self.templates = templates  # vars, params, rules
        self.faker = faker
        self.token = token
        self.default_identity = default_identity
        self.journal = journal
        self.problems = problems
        self._runs = itertools.count(1)

    def run(self, steps: list[CompiledStep], saved: dict[str, Any], scenario: str,
            session_for: Callable[[str], Any]) -> bool:
        """Run `steps` in order for one user; False as soon as one does not pass."""
        unique = f"{self.token}-{next(self._runs)}"
        return all(self._step(step, saved, scenario, session_for, unique) for step in steps)

    # ------------------------------------------------------------------ one step

    def _step(self, compiled: CompiledStep, saved: dict[str, Any], scenario: str,
              session_for: Callable[[str], Any], unique: str) -> bool:
        try:
            step = self._rendered(compiled, saved, unique)
        except (TemplateRenderError, ValidationError) as exc:
            self.problems.report(f"{compiled.name}: {_first_line(exc)}")
            return False
        identity = step.as_ or compiled.identity or self.default_identity
        if isinstance(step, RequestStep) and not step.request.auth:
            identity = ANONYMOUS
        try:
            session = session_for(identity)
        except (EnvironmentProblem, PlanError) as exc:
            # this process cannot act as the identity (its credential variables are unset
            # here): the set-up is at fault, not the CRM
            self.problems.report(f"identity {identity!r}: {exc}")
            return False
        counted = Counted()
        session.sink = counted.take
        started = time.time()
        try:
            output = (self._op(step, session, identity) if isinstance(step, OpStep)
                      else self._request(step, session))
        except EnvironmentProblem as exc:
            # Under load, an answer that does not come (timeout, refused, a gateway error) is
            # the CRM failing to serve, not a broken set-up: crmqa probed it before the load.
            self._count_logins(counted, identity, started)
            self._sample(scenario, compiled.name, counted, started, str(exc))
            return False
        except (OperationError, NoEquivalent, CheckError) as exc:
            self.problems.report(f"{compiled.name}: {exc}")
            return False
        finally:
            session.sink = None
        self._count_logins(counted, identity, started)
        output.elapsed_ms = counted.elapsed_ms  # for expect.max_ms: the step's own requests
        if step.expect.model_fields_set:
            checks = evaluate(step.expect, output, self.base_dir)
            failed = next((check.message for check in checks if not check.ok), None)
        else:
            failed = _default_failure(step, output)
        where = f" ({output.summary})" if output.summary else ""
        self._sample(scenario, compiled.name, counted, started,
                     f"{failed}{where}" if failed else None)
        if failed is not None:
            return step.continue_on_failure  # counted as failed; the flow goes on if asked
        if step.save:
            try:
                saved.update(extract_saved(step.save, output.data))
            except SaveError as exc:
                self.problems.report(f"{compiled.name}: {exc} (the CRM answered "
                                     f"{output.outcome or output.status})")
                return False
            except CheckError as exc:
                self.problems.report(f"{compiled.name}: {exc}")
                return False
        return True

    def _rendered(self, compiled: CompiledStep, saved: dict[str, Any],
                  unique: str) -> OpStep | RequestStep:
        if not compiled.templated:
            return compiled.model
        context = template_context(fake=self.faker, vars=self.templates["vars"], saved=saved,
                                   params=self.templates["params"], unique=unique,
                                   rules=self.templates["rules"])
        return type(compiled.model).model_validate(render(compiled.dumped, context))

    def _op(self, step: OpStep, session: Any, identity: str) -> StepOutput:
        entity, operation = step.op.split(".", 1)
        call = OperationCall(entity=entity, operation=operation, args=dict(step.with_),
                             identity=identity)
        result: OperationResult | None = None
        if self.adapter is not None:
            result = self.adapter.perform(call, session)
        if result is None:
            result = self.runner.perform(call, session, step.timeout_s)
        for record_id in result.created_ids:
            self.journal.created(entity, record_id, identity)
        if operation == "convert" and result.outcome == "ok" and result.record:
            for key, created in CONVERT_CREATES.items():
                if result.record.get(key) is not None:
                    self.journal.created(created, result.record[key], identity)
        if operation == "delete" and result.outcome in ("ok", "not_found"):
            self.journal.deleted(entity, call.args.get("id"))
        data: dict[str, Any] = {
            "outcome": result.outcome, "status": result.status, "record": result.record,
            "records": result.records, "total": result.total,
            "field_errors": result.field_errors,
            "count": len(result.records) if result.records is not None else None,
        }
        data.update(result.extra)
        return StepOutput(data=data, outcome=result.outcome, status=result.status,
                          field_errors=result.field_errors,
                          summary=f"{step.op} -> {result.outcome} (HTTP {result.status})")

    def _request(self, step: RequestStep, session: Any) -> StepOutput:
        request = step.request
        exchange = session.send(request.method, request.path, params=request.params or None,
                                json=request.json_, data=request.data,
                                headers=request.headers or None, timeout_s=step.timeout_s)
        response = exchange.response
        try:
            data: Any = response.json() if response.content else None
        except ValueError:
            data = {"text": response.text}
        outcome = self.profile.outcome_for(response.status_code, body=data,
                                           anonymous=session.identity == ANONYMOUS).value
        errors = field_errors(self.profile.errors, None, data if isinstance(
            data, dict | list) else None) if response.status_code >= 400 else {}
        return StepOutput(data=data, outcome=outcome, status=response.status_code,
                          headers=dict(response.headers), elapsed_ms=exchange.elapsed_ms,
                          field_errors=errors, summary=exchange.summary())

    # ------------------------------------------------------------------ samples

    def _count_logins(self, counted: Counted, identity: str, started: float) -> None:
        for login in counted.logins:
            failed = login.error or (login.status is not None and login.status >= 400)
            self.fire(request_type=AUTH_TYPE, name=f"login as {identity}",
                      response_time=login.elapsed_ms,
                      response_length=len(login.response.content) if login.response else 0,
                      exception=LoadFailure(f"login answered {login.summary()}")
                      if failed else None, context={}, start_time=started)
        counted.logins.clear()

    def _sample(self, scenario: str, name: str, counted: Counted, started: float,
                failure: str | None) -> None:
        if counted.requests == 0 and failure is None:
            return
        self.fire(request_type=scenario, name=name, response_time=counted.elapsed_ms,
                  response_length=counted.size,
                  exception=LoadFailure(failure) if failure else None, context={},
                  start_time=started)


def _default_failure(step: OpStep | RequestStep, output: StepOutput) -> str | None:
    """Without `expect`, a load step must succeed: outcome ok, or a status below 400."""
    if isinstance(step, OpStep):
        if output.outcome == "ok":
            return None
        return f"outcome: expected 'ok', got {output.outcome!r}"
    if output.status is not None and output.status < 400:
        return None
    return f"status: expected below 400, got {output.status}"


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"after templating, {where}: {first['msg']}"
    return str(exc).splitlines()[0]

