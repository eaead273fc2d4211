"""Inside Locust: the User classes, the shape and the listeners a generated locustfile gets.

Imported only by the locustfile crmqa renders (crmqa.load.locustfile), so only in a process
that `python -m locust` started: Locust's gevent monkey-patching has happened before any of
crmqa's HTTP modules load (requests, urllib3), which is the order gevent needs. crmqa's own
process never imports this package.

`build(spec, module)` turns the locustfile's data (no secrets: each process reads the target's
credentials from its own environment) into one User class per scenario, a LoadTestShape and
event listeners:
- every process: the virtual users, the rate cap, the journal of created records;
- the master (or the only process): the timeline, abort on fail, the capacity search, and
  the problems and journal lines sent by workers on other machines.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any, cast

import locust.runners
from locust import LoadTestShape, User, events
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser
from locust.runners import MasterRunner, WorkerRunner

from crmqa.drivers.api.auth import configure
from crmqa.drivers.api.operations import OperationRunner
from crmqa.drivers.api.redaction import Redactor
from crmqa.drivers.api.session import ApiSession
from crmqa.load.model import LoadSpec, Scenario
from crmqa.load.runtime.control import (
    JOURNAL_MESSAGE,
    PROBLEM_MESSAGE,
    Journal,
    Monitor,
    Pace,
    Problems,
    process_tag,
    write_problem,
)
from crmqa.load.runtime.flows import CompiledStep, FlowRunner
from crmqa.load.runtime.session import LoadSession
from crmqa.load.schedule import Control, shape_tick
from crmqa.plan.models import Target
from crmqa.plan.templating import make_faker
from crmqa.profiles.adapter import load_adapter
from crmqa.profiles.models import Profile
from crmqa.profiles.target import ANONYMOUS, resolve_target

__all__ = ["build"]

# Workers report their stats every second (Locust's default is 3): the timeline is per second.
locust.runners.WORKER_REPORT_INTERVAL = 1.0
# Exceptions Locust uses to steer users: they pass through a task untouched.
_LOCUST_CONTROL = (StopUser, InterruptTaskSet, RescheduleTask)


class _PacedApiSession(ApiSession):
    """The API driver's own session (requests) for `client: requests`: paced, and with the
    requests of a login marked so that they are counted as a login."""

    pace: Any = None
    _logging_in = False

    def send(self, method: str, path: str, **kwargs: Any) -> Any:  # type: ignore[override]
        login = self.before_send
        if kwargs.get("authenticate", True) and login is not None and not self._logging_in:
            self._logging_in = True
            try:
                login(self)
            finally:
                self._logging_in = False
        if self.pace is not None:
            self.pace()
        sink = self.sink
        if self._logging_in and sink is not None:
            def marked(exchange: Any) -> None:
                exchange.login = True
                sink(exchange)

            self.sink = marked
        self.before_send = None  # logged in above
        try:
            return super().send(method, path, **kwargs)
        finally:
            self.before_send = login
            self.sink = sink


class _Process:
    """Everything one Locust process builds once from the spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.load = LoadSpec.model_validate(spec["load"])
        self.out_dir = Path(spec["out_dir"])
        profile = Profile.model_validate(spec["profile"])
        if spec.get("profile_source"):
            profile._source = Path(spec["profile_source"])  # an adapter sits beside it
        self.profile = profile
        base_dir = Path(spec["base_dir"])
        target = Target.model_validate(spec["target"])
        self.target = resolve_target(spec["target_name"], target, base_dir, profile=profile)
        self.target.base_url = spec["base_url"]  # as crmqa resolved it: a remote worker may
        # lack the variables the URL is made of, never the credentials it acts with
        self.redactor = Redactor(self.target.secrets())
        self.tag = process_tag()
        data = spec["data"]
        faker = make_faker(data["locale"], data["seed"], self.tag)
        self.journal = Journal()
        self.problems = Problems(self._problem)
        self.role = "local"
        self.environment: Any = None
        rate = self.load.limits.max_rps / max(int(spec.get("generators", 1)), 1)
        self.pace = Pace(rate)
        self.flows = FlowRunner(
            profile=profile, runner=OperationRunner(profile, base_dir),
            adapter=load_adapter(profile), base_dir=base_dir, fire=self._fire,
            templates={"vars": data["vars"], "params": spec.get("params") or {},
                       "rules": data.get("rules") or {}},
            faker=faker, token=f"{self.tag}-{spec['run_token']}",
            default_identity=self.target.default_identity, journal=self.journal,
            problems=self.problems)
        self.control = Control(self.load, self.out_dir, parent_pid=spec.get("parent_pid"))
        self.monitor: Monitor | None = None
        self.users = itertools.count(1)

    # ------------------------------------------------------------------ events

    def _fire(self, **kwargs: Any) -> None:
        self.environment.events.request.fire(**kwargs)

    def _problem(self, message: str, kind: str) -> None:
        runner = self.environment.runner if self.environment is not None else None
        if isinstance(runner, WorkerRunner):
            runner.send_message(PROBLEM_MESSAGE, {"message": message, "kind": kind})
            return
        self._stop_for_problem(message, kind)

    def _stop_for_problem(self, message: str, kind: str = "plan") -> None:
        write_problem(self.out_dir, message, kind)
        if self.control.stopped_by is None:
            self.control.stopped_by = f"a mistake in the plan: {message}"
            runner = self.environment.runner
            if runner is not None:
                import gevent

                gevent.spawn(runner.quit)

    def on_init(self, environment: Any, **_: Any) -> None:
        self.environment = environment
        runner = environment.runner
        local_journal = self.spec.get("journal") == "files"
        if isinstance(runner, MasterRunner):
            self.role = "master"
            self.journal = Journal(self.out_dir / "journal-master.jsonl")
            runner.register_message(
                JOURNAL_MESSAGE, lambda msg, **_: self.journal.write_lines(msg.data["lines"]))
            runner.register_message(PROBLEM_MESSAGE, lambda msg, **_: self._stop_for_problem(
                msg.data["message"], msg.data.get("kind", "plan")))
        elif isinstance(runner, WorkerRunner):
            self.role = "worker"
            if local_journal:
                self.journal = Journal(self.out_dir / f"journal-{self.tag}.jsonl")
            else:
                self.journal = Journal(send=lambda lines: runner.send_message(
                    JOURNAL_MESSAGE, {"lines": lines}))
        else:
            self.journal = Journal(self.out_dir / f"journal-{self.tag}.jsonl")
        self.flows.journal = self.journal

    def on_test_start(self, environment: Any, **_: Any) -> None:
        if self.role in ("master", "local") and self.monitor is None:
            self.monitor = Monitor(self.control, environment)
            self.monitor.start()

    def on_test_stop(self, environment: Any, **_: Any) -> None:
        self.journal.flush()
        if self.monitor is not None:
            self.monitor.finish()

    def on_quitting(self, environment: Any, **_: Any) -> None:
        self.journal.flush()
        if self.monitor is not None:
            self.monitor.record()

    # ------------------------------------------------------------------ users

    def user_class(self, index: int, scenario: Scenario, module: str) -> type[User]:
        process = self
        setup = [CompiledStep.of(step, scenario.as_) for step in scenario.setup]
        tasks = {}
        for task in scenario.tasks:
            compiled = [CompiledStep.of(step, scenario.as_) for step in task.steps]
            tasks[_task_function(process, scenario.name, setup, compiled, task.name)] = (
                task.weight)
        think = scenario.think_time
        if isinstance(think, float | int):
            pause = float(think)

            def wait_time(self: Any) -> float:
                return pause
        else:
            low, high = think.min_s, think.max_s

            def wait_time(self: Any) -> float:
                return random.uniform(low, high)

        fast = self.load.client == "fast"
        attributes: dict[str, Any] = {
            "__module__": module,
            "__doc__": f"crmqa scenario {scenario.name!r}",
            "host": self.target.base_url,
            "weight": scenario.weight,
            "tasks": tasks,
            "wait_time": wait_time,
            "abstract": False,
            "on_start": lambda user: _start_user(process, user),
        }
        if fast:
            timeout = float(self.target.timeout_s)
            attributes.update(network_timeout=timeout, connection_timeout=timeout,
                              insecure=not self.target.target.verify_tls, max_retries=0)
        base = FastHttpUser if fast else User
        return type(f"Scenario{index + 1}", (base,), attributes)

    def session(self, user: Any, identity: str) -> Any:
        """The user's session for `identity`, logged in lazily on its first request."""
        sessions: dict[str, Any] = user.crmqa_sessions
        session = sessions.get(identity)
        if session is not None:
            return session
        target = self.target
        if self.load.client == "fast":
            session = LoadSession(target.base_url, identity, user.client.client,
                                  user.client.cookiejar, target.timeout_s, self.redactor,
                                  pace=self.pace)
        else:
            session = _PacedApiSession(target.base_url, identity, self.redactor,
                                       target.timeout_s, verify_tls=target.target.verify_tls)
            session.pace = self.pace
        if identity != ANONYMOUS:
            # LoadSession speaks ApiSession's protocol: send, http.headers/params/auth/cookies
            configure(cast(ApiSession, session), self.profile.auth, target.identity(identity))
        sessions[identity] = session
        return session


def _start_user(process: _Process, user: Any) -> None:
    user.crmqa_sessions = {}
    user.crmqa_saved = None  # the scenario's setup has not run yet
    user.crmqa_number = next(process.users)


def _task_function(process: _Process, scenario: str, setup: list[CompiledStep],
                   steps: list[CompiledStep], name: str) -> Any:
    def task(user: Any) -> None:
        def session_for(identity: str) -> Any:
            return process.session(user, identity)

        try:
            if user.crmqa_saved is None:
                saved: dict[str, Any] = {}
                if setup and not process.flows.run(setup, saved, scenario, session_for):
                    return  # tried again at the user's next task
                user.crmqa_saved = saved
            process.flows.run(steps, dict(user.crmqa_saved), scenario, session_for)
        except _LOCUST_CONTROL:
            raise
        except Exception as exc:  # a bug of crmqa's: say so, never count it against the CRM
            process.problems.report(f"crmqa error in task {name!r}: "
                                    f"{type(exc).__name__}: {exc}", "crmqa")

    task.__name__ = name
    return task


def build(spec: dict[str, Any], module: str) -> dict[str, Any]:
    """The User classes, shape and listeners of one load, for the locustfile's globals."""
    process = _Process(spec)
    events.init.add_listener(process.on_init)
    events.test_start.add_listener(process.on_test_start)
    events.test_stop.add_listener(process.on_test_stop)
    events.quitting.add_listener(process.on_quitting)
    classes: dict[str, Any] = {}
    for index, scenario in enumerate(process.load.scenarios):
        user_class = process.user_class(index, scenario, module)
        classes[user_class.__name__] = user_class

    def tick(self: Any) -> tuple[int, float] | None:
        return shape_tick(process.control, self.get_run_time())

    classes["CrmqaShape"] = type("CrmqaShape", (LoadTestShape,), {
        "__module__": module, "abstract": False, "tick": tick,
        "__doc__": "the load's shape, phases and caps (crmqa.load.runtime.control)"})
    return classes
