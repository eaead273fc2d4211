"""The Locust process's own bookkeeping: created records, plan problems, the rate cap, the
timeline, abort on fail, and the shape that drives the users.

Runs inside Locust's gevent process (imported by the generated locustfile only).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent

from crmqa.load.model import StepRampShape
from crmqa.load.schedule import Control
from crmqa.load.slo import abort_reason, window_ok
from crmqa.load.stats import delta_second

#: The file crmqa writes to ask the load to stop (crmqa.load.process.STOP_REQUEST).
STOP_REQUEST = "stop.request"
JOURNAL_MESSAGE = "crmqa_journal"
PROBLEM_MESSAGE = "crmqa_problem"
_FLUSH_S = 0.5


# --------------------------------------------------------------------------- journal


class Journal:
    """Every record the load created (and deleted again), for the read-back and clean-up.

    A process on crmqa's machine appends to its own `journal-<pid>.jsonl` in the load
    folder, a line at once, so that even a killed run leaves a complete list. A worker on
    another machine sends its lines to the master, which writes them.
    """

    def __init__(self, path: Path | None = None,
                 send: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self._handle = path.open("a", encoding="utf-8") if path is not None else None
        self._send = send
        self._pending: list[dict[str, Any]] = []
        self._last = time.monotonic()

    def created(self, entity: str, record_id: Any, identity: str) -> None:
        self._write({"do": "created", "entity": entity, "id": record_id, "as": identity})

    def deleted(self, entity: str, record_id: Any) -> None:
        self._write({"do": "deleted", "entity": entity, "id": record_id})

    def write_lines(self, lines: list[dict[str, Any]]) -> None:
        """Lines from a worker (the master writes them)."""
        for line in lines:
            self._write(line)

    def _write(self, line: dict[str, Any]) -> None:
        if self._handle is not None:
            self._handle.write(json.dumps(line, default=str) + "\n")
            self._handle.flush()
            return
        self._pending.append(line)
        if time.monotonic() - self._last >= _FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if self._pending and self._send is not None:
            pending, self._pending = self._pending, []
            self._send(pending)


# --------------------------------------------------------------------------- problems


class Problems:
    """What broke while the load ran without being the CRM's doing, recorded once each: a
    mistake of the plan (`plan`) or of crmqa itself (`crmqa`). The load stops at the first."""

    def __init__(self, on_first: Callable[[str, str], None]) -> None:
        self._seen: set[str] = set()
        self._on_first = on_first
        self.count = 0

    def report(self, message: str, kind: str = "plan") -> None:
        self.count += 1
        if message in self._seen or len(self._seen) >= 5:
            return
        self._seen.add(message)
        self._on_first(message, kind)


def write_problem(out_dir: Path, message: str, kind: str = "plan") -> None:
    """Append a problem to `problems.jsonl` (the master's or the only process's folder)."""
    with (out_dir / "problems.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"message": message, "kind": kind}) + "\n")


# --------------------------------------------------------------------------- rate cap


class Pace:
    """The hard cap on request rate: each request waits for its slot (no bursts).

    Every generator process gets an equal share of the plan's `limits.max_rps`.
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        slot = max(self._next, now)
        self._next = slot + self.interval
        if slot > now:
            gevent.sleep(slot - now)


# --------------------------------------------------------------------------- timeline


def snapshot(stats: Any) -> dict[tuple[str, str], tuple[int, int, dict[int, int], float, float]]:
    """Locust's cumulative stats entries, copied: (type, name) -> counts and histogram."""
    taken = {}
    for (name, kind), entry in list(stats.entries.items()):
        taken[(str(kind), str(name))] = (
            entry.num_requests, entry.num_failures, dict(entry.response_times),
            float(entry.total_response_time), float(entry.max_response_time or 0.0))
    return taken


class Monitor:
    """Writes the timeline each second; stops the load on abort_on_fail and ends a capacity
    search at the first step that breaks an SLO. Runs in the master (or the only process)."""

    def __init__(self, control: Control, environment: Any) -> None:
        self.control = control
        self.environment = environment
        self.path = control.out_dir / "timeline.jsonl"
        self._before: dict[tuple[str, str], Any] = {}
        self._start: float | None = None
        self._greenlet: Any = None
        self._judged_steps: set[str] = set()

    def start(self) -> None:
        self._start = time.monotonic()
        self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        assert self._start is not None
        tick = 1
        while True:
            gevent.sleep(max(0.0, self._start + tick - time.monotonic()))
            tick += 1
            self.record()
            request = self.control.out_dir / STOP_REQUEST
            if request.exists():
                self._stop(request.read_text(encoding="utf-8") or "stopped by crmqa",
                           kind="request")
                return
            if not _alive(self.control.parent_pid):
                self._stop("crmqa, which started this load, is gone", kind="request")
                return
            if self._judge():
                return

    def record(self) -> None:
        """Append one line for what happened since the last one."""
        if self._start is None:
            return
        now = snapshot(self.environment.stats)
        runner = self.environment.runner
        users = int(getattr(runner, "user_count", 0) or 0)
        second = delta_second(time.monotonic() - self._start, self.control.phase, users, now,
                              self._before)
        self._before = now
        self.control.seconds.append(second)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(second.to_json() + "\n")

    def finish(self) -> None:
        """The last line, at the end of the test; no more judging."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
            self.record()

    def _judge(self) -> bool:
        control = self.control
        spec = control.spec
        seconds = control.seconds
        if isinstance(spec.shape, StepRampShape):
            return self._judge_steps()
        loading = [second for second in seconds if second.phase == "load"]
        if not loading or seconds[-1].phase != "load":
            return False
        reason = abort_reason(spec.slo, loading, seconds[-1].t)
        if reason is None:
            return False
        self._stop(f"aborted after {seconds[-1].t:.0f} s: {reason}")
        return True

    def _judge_steps(self) -> bool:
        seconds = self.control.seconds
        current = seconds[-1].phase
        for phase in dict.fromkeys(second.phase for second in seconds):
            if phase == current or not phase.startswith("step ") or phase in self._judged_steps:
                continue
            self._judged_steps.add(phase)
            broken = window_ok(self.control.spec.slo,
                               [second for second in seconds if second.phase == phase])
            if broken:
                # The capacity is found: no need to push the CRM any further.
                self.control.capacity_over = True
        return False

    def _stop(self, reason: str, kind: str = "abort") -> None:
        self.control.stopped_by = reason
        (self.control.out_dir / "stopped.json").write_text(
            json.dumps({"reason": reason, "kind": kind}), encoding="utf-8")
        gevent.spawn(self.environment.runner.quit)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tag() -> str:
    """This process on this machine, for unique data and file names."""
    return f"{os.uname().nodename[:12]}-{os.getpid()}"
