"""The processes that run calibration's cases: each keeps one sandbox and one engine.

Measured on plans/sandbox.yaml (about 800 case runs per pass): a pytest run per group paid
for interpreter start-up, the plugins, and validating and expanding the whole plan again (10
to 40 s a run on a loaded 2-core machine, against 0.1 to 0.2 s a case), and a group's re-run
of two cases cost as much as a group. So calibration runs cases through crmqa's engine (the
same `Engine.run_case` the pytest plugin calls) in a few worker processes forked after the
plan is loaded once:

- a worker keeps its sandbox (and its engine, with its API sessions and its browser) while it
  runs cases against the same faults, and starts a new sandbox when the faults change;
- a sandbox that does not start is tried again (three times, waiting longer each time);
- a worker that dies, or a run that cannot start, answers with the reason: calibration reports
  the faults concerned as not run, never as missed.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from crmqa.core.results import CaseResult, Outcome
from crmqa.plan.loaded import LoadedPlan

ResultKey = tuple[str, str]  # (case id, parameters as JSON)

SANDBOX_ATTEMPTS = 3
SANDBOX_START_S = (45.0, 90.0, 150.0)  # per attempt: a loaded machine starts slowly


def result_key(result: CaseResult) -> ResultKey:
    return result.case_id, json.dumps(result.params, sort_keys=True, default=str)


@dataclass(frozen=True)
class RunRequest:
    """Run these cases (every parameter set of each) on a sandbox with these faults."""

    label: str
    faults: tuple[str, ...]
    cases: tuple[str, ...] | None  # None: every case of the plan
    group: int | None = None  # the fault group it serves (None: clean, or a fault alone)
    sandbox: str = ""  # runs share a running sandbox only when faults and this are equal

    @property
    def sandbox_key(self) -> tuple[tuple[str, ...], str]:
        """Which running sandbox the run may use (a repeated clean run gets a fresh one)."""
        return self.faults, self.sandbox


@dataclass
class RunResult:
    """What one run produced."""

    label: str
    faults: tuple[str, ...]
    cases: list[str] | None
    results: dict[ResultKey, CaseResult]
    seconds: float
    exit_code: int = 0
    error: str | None = None  # the run could not run (its sandbox did not start, say)
    sandbox_start_s: float = 0.0  # time spent starting a sandbox for it (0: reused)
    worker: str = ""


class RunFailed(Exception):
    """A run produced no results: the reason, for the report."""


# ----------------------------------------------------------------------------- worker side


@dataclass
class _Session:
    """One running sandbox and the engine pointed at it."""

    key: tuple[tuple[str, ...], str]
    stack: contextlib.ExitStack
    engine: Any
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def _start_sandbox(stack: contextlib.ExitStack, faults: Sequence[str]) -> Any:
    from crmqa.sandbox.testing import SandboxStartError, running_sandbox

    problems: list[str] = []
    for attempt, timeout in enumerate(SANDBOX_START_S[:SANDBOX_ATTEMPTS], 1):
        try:
            return stack.enter_context(running_sandbox(faults=list(faults),
                                                       start_timeout=timeout))
        except SandboxStartError as error:
            problems.append(f"attempt {attempt}: {str(error).splitlines()[0]}")
    raise RunFailed("the sandbox did not start: " + "; ".join(problems))


class _Worker:
    """The loop of one worker process: requests in, results out, one session at a time."""

    def __init__(self, plan: LoadedPlan, target: str, out_dir: Path, name: str,
                 evidence: str) -> None:
        self.plan = plan
        self.target = target
        self.out_dir = out_dir
        self.name = name
        self.evidence = evidence
        self.by_id = {c.case.id: c for c in plan.cases}
        self.order = [c.case.id for c in plan.dependency_order()]
        self.session: _Session | None = None
        self.sessions = 0

    def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            with contextlib.suppress(Exception):
                session.engine.close()
            session.stack.close()

    def _session_for(self, request: RunRequest) -> tuple[_Session, float]:
        if self.session is not None and self.session.key == request.sandbox_key:
            return self.session, 0.0
        self.close()
        from crmqa.engine import Engine

        started = time.monotonic()
        stack = contextlib.ExitStack()
        try:
            sandbox = _start_sandbox(stack, request.faults)
            # The plan's target reads its URL and passwords from the environment.
            os.environ["CRMQA_SANDBOX_URL"] = sandbox.base_url
            os.environ["CRMQA_SANDBOX_PASSWORD"] = sandbox.password
            self.sessions += 1
            run_dir = self.out_dir / "runs" / f"{self.name}-{self.sessions:03d}"
            outcomes: dict[str, Outcome] = {}
            engine = Engine(self.plan, self.target, run_dir, self.name,
                            outcome_of=outcomes.get, evidence=self.evidence)  # type: ignore[arg-type]
        except BaseException:
            stack.close()
            raise
        self.session = _Session(request.sandbox_key, stack, engine, outcomes)
        return self.session, time.monotonic() - started

    def run(self, request: RunRequest) -> RunResult:
        started = time.monotonic()
        session, start_s = self._session_for(request)
        wanted = set(request.cases) if request.cases is not None else None
        results: dict[ResultKey, CaseResult] = {}
        for case_id in self.order:
            if wanted is not None and case_id not in wanted:
                continue
            loaded = self.by_id[case_id]
            for params in loaded.case.parameters or [{}]:
                result = session.engine.run_case(loaded, params or None)
                session.outcomes[case_id] = result.outcome
                results[result_key(result)] = result
        return RunResult(request.label, request.faults,
                         list(request.cases) if request.cases is not None else None,
                         results, time.monotonic() - started, sandbox_start_s=start_s,
                         worker=self.name)


def _serve(connection: Connection, plan: LoadedPlan, target: str, out_dir: Path, name: str,
           evidence: str) -> None:
    # Terminated (Ctrl-C, the pool closing): stop the sandbox on the way out, never orphan it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the controller decides when to stop
    worker = _Worker(plan, target, out_dir, name, evidence)
    try:
        while True:
            request = connection.recv()
            if request is None:
                return
            try:
                reply: Any = ("done", worker.run(request))
            except RunFailed as error:
                worker.close()
                reply = ("error", str(error))
            except Exception as error:  # one broken run must not end the others
                worker.close()
                detail = traceback.format_exc(limit=3).strip().splitlines()[-1]
                reply = ("error", f"{type(error).__name__}: {error} ({detail})")
            connection.send(reply)
    finally:
        worker.close()


# ----------------------------------------------------------------------------- controller side


@dataclass
class _Slot:
    name: str
    process: Any
    connection: Connection
    request: RunRequest | None = None
    sandbox: tuple[tuple[str, ...], str] | None = None  # the key of its running sandbox
    sent_at: float = 0.0


class EnginePool:
    """`jobs` worker processes forked from this one (which holds the loaded plan).

    The controller must not have started threads before: forking copies only the calling
    thread. `submit` gives a request to an idle worker, preferring one whose sandbox already
    has the request's faults; `next_done` waits for any answer.
    """

    def __init__(self, plan: LoadedPlan, target: str, out_dir: Path, jobs: int, *,
                 evidence: str = "off") -> None:
        self.plan = plan
        self.target = target
        self.out_dir = out_dir
        self.evidence = evidence
        self.context = multiprocessing.get_context("fork")
        self.slots: list[_Slot] = [self._spawn(f"w{index + 1}") for index in range(jobs)]

    @property
    def size(self) -> int:
        return len(self.slots)

    def _spawn(self, name: str) -> _Slot:
        mine, theirs = self.context.Pipe()
        process = self.context.Process(
            target=_serve, args=(theirs, self.plan, self.target, self.out_dir, name,
                                 self.evidence), name=f"crmqa-calibrate-{name}", daemon=True)
        process.start()
        theirs.close()
        return _Slot(name, process, mine)

    def idle(self) -> int:
        return sum(slot.request is None for slot in self.slots)

    def sandbox_faults(self) -> list[tuple[str, ...] | None]:
        """The faults of each idle worker's running sandbox (to keep work where it is)."""
        return [slot.sandbox[0] if slot.sandbox else None for slot in self.slots
                if slot.request is None]

    def submit(self, request: RunRequest) -> None:
        idle = [slot for slot in self.slots if slot.request is None]
        if not idle:
            raise RuntimeError("no idle worker")
        slot = next((s for s in idle if s.sandbox == request.sandbox_key), idle[0])
        slot.request = request
        slot.sent_at = time.monotonic()
        slot.connection.send(request)

    def next_done(self) -> tuple[RunRequest, RunResult]:
        """Wait for a busy worker's answer; a run that could not run has `error` set."""
        busy = {slot.connection: slot for slot in self.slots if slot.request is not None}
        if not busy:
            raise RuntimeError("nothing is running")
        sentinels = {slot.process.sentinel: slot for slot in busy.values()}
        ready = wait([*busy, *sentinels])
        for handle in ready:
            slot = busy.get(handle) if isinstance(handle, Connection) else None
            if slot is not None:
                try:
                    kind, payload = slot.connection.recv()
                except (EOFError, OSError):
                    return self._died(slot)
                request = slot.request
                assert request is not None
                slot.request = None
                if kind == "done":
                    slot.sandbox = request.sandbox_key
                    return request, payload
                slot.sandbox = None
                return request, self._failed(request, payload, slot)
        # only a sentinel: a worker died without answering
        return self._died(sentinels[ready[0]])  # type: ignore[index]

    def _failed(self, request: RunRequest, reason: str, slot: _Slot) -> RunResult:
        return RunResult(request.label, request.faults,
                         list(request.cases) if request.cases is not None else None, {},
                         time.monotonic() - slot.sent_at, exit_code=4, error=reason,
                         worker=slot.name)

    def _died(self, slot: _Slot) -> tuple[RunRequest, RunResult]:
        request = slot.request
        assert request is not None
        slot.process.join(timeout=1)
        code = slot.process.exitcode
        result = self._failed(request, f"worker {slot.name} died (exit code {code})", slot)
        with contextlib.suppress(OSError):
            slot.connection.close()
        replacement = self._spawn(slot.name)
        self.slots[self.slots.index(slot)] = replacement
        return request, result

    def close(self) -> None:
        """Stop every worker (each stops its sandbox)."""
        for slot in self.slots:
            with contextlib.suppress(OSError, BrokenPipeError):
                if slot.request is None:
                    slot.connection.send(None)
                else:
                    slot.process.terminate()
        deadline = time.monotonic() + 30
        for slot in self.slots:
            slot.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.terminate()
                slot.process.join(timeout=10)
            with contextlib.suppress(OSError):
                slot.connection.close()

    def __enter__(self) -> EnginePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
