"""The load driver: runs a case's `load:` on Locust and judges it.

Registered for the `LoadSpec` section model in the driver registry, so the engine drives a
load case like any step: not applicable without `load_ok` (and, for a target that is not on
this machine, without the run's confirmation), probed before it starts, failed when an SLO
is missed, broken when the plan or the environment is at fault, and every record it created
cleaned up by the engine afterwards, also after a failure or Ctrl-C.

One run of a load:
1. log every identity the load acts as in, with the API driver (wrong credentials or a CRM
   that is down stop here: an environment problem, not a failed SLO);
2. write the locustfile (crmqa.load.locustfile) into the case's evidence folder and start
   Locust: one process, or a master and `--crmqa-load-workers` workers;
3. show progress on the console each second (users, req/s, p95, errors) from the timeline;
4. judge the timeline: SLOs (or the capacity search), recovery, and the read-back of every
   record the load created with a success; draw the charts;
5. hand every record still in the CRM to the engine's clean-up.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.results import Attachment, CheckResult
from crmqa.drivers.api.driver import ApiDriver, create_api_driver
from crmqa.drivers.base import StepOutput
from crmqa.drivers.registry import DriverEnvironment, StepDefect
from crmqa.load.charts import ChartsUnavailable, draw_load_chart
from crmqa.load.locustfile import LoadSetting, load_spec, render_locustfile
from crmqa.load.model import LoadSpec, StepRampShape, load_steps, seconds
from crmqa.load.options import LoadOptionError, is_loopback, load_confirmed, load_setting
from crmqa.load.process import STOP_GRACE_S, LocustProcesses
from crmqa.load.slo import Judgement, judge, window_ok
from crmqa.load.stats import Scope, Second, names_seen, peak_users, read_timeline, tally
from crmqa.plan.models import OpStep, RequestStep
from crmqa.profiles.adapter import OperationCall
from crmqa.profiles.target import ANONYMOUS

#: Time Locust may take to start (and external workers to connect) before the load begins.
START_GRACE_S = 60.0
#: Seconds between two progress lines on the console.
PROGRESS_EVERY_S = 2.0
#: Records read back (no acknowledged write lost) at most; more are sampled evenly.
READ_BACK_LIMIT = 5000


@dataclass
class Record:
    """A record the load created, known from the journal."""

    entity: str
    record_id: Any
    identity: str


@dataclass
class Journal:
    """The journal files of a load, read back: what was created, what was deleted again."""

    created: list[Record] = field(default_factory=list)
    deleted: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def read(cls, folder: Path) -> Journal:
        journal = cls()
        for path in sorted(folder.glob("journal-*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a killed process
                if item.get("do") == "created":
                    journal.created.append(Record(str(item["entity"]), item["id"],
                                                  str(item.get("as") or "")))
                elif item.get("do") == "deleted":
                    journal.deleted.add((str(item["entity"]), str(item["id"])))
        return journal

    def remaining(self) -> list[Record]:
        """Records created and not deleted again by the load's own flows, each once."""
        seen: set[tuple[str, str]] = set()
        left = []
        for record in self.created:
            key = (record.entity, str(record.record_id))
            if key in self.deleted or key in seen:
                continue
            seen.add(key)
            left.append(record)
        return left


class LoadDriver:
    """Runs `load:` sections: Locust in child processes, judged by the SLOs."""

    name = "load"

    def __init__(self, env: DriverEnvironment) -> None:
        self.env = env
        self._api: ApiDriver | None = None

    @property
    def api(self) -> ApiDriver:
        """The API driver this load logs in, reads back and cleans up with."""
        if self._api is None:
            self._api = create_api_driver(self.env)
        return self._api

    # ------------------------------------------------------------------ protocol

    def handles(self, step: Any) -> bool:
        return isinstance(step, LoadSpec)

    def needs(self, step: Any) -> list[str]:
        """Reading back what the load created needs `<entity>.get` of the profile."""
        if not isinstance(step, LoadSpec) or step.recovery is None or not (
                step.recovery.writes_kept):
            return []
        needs: list[str] = []
        for _, inner in load_steps(step):
            if isinstance(inner, OpStep):
                entity, operation = inner.op.split(".", 1)
                if operation in ("create", "import"):
                    needs.append(f"{entity}.get")
        return list(dict.fromkeys(needs))

    def refusal(self, step: Any) -> str | None:
        """A target elsewhere than this machine takes load only when the run confirms it."""
        if not isinstance(step, LoadSpec):
            return None
        url = self.env.target.base_url
        if is_loopback(url) or load_confirmed():
            return None
        host = urlsplit(url).hostname or url
        return (f"target {self.env.target.name!r} ({host}) is not on this machine: a load runs "
                "against it only when the run confirms it (pytest --crmqa-confirm-load, or "
                "crmqa run --confirm-load)")

    def probe(self) -> None:
        """The CRM answers its health check and lets the default identity in."""
        self.api.probe()

    def run(self, step: Any, ctx: Any) -> StepOutput:
        """Run the load and judge it; the records it created go to the engine's clean-up."""
        assert isinstance(step, LoadSpec)
        return LoadRun(self, step, ctx).execute()

    def can_delete(self, entity: str) -> bool:
        return self.api.can_delete(entity)

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        self.api.cleanup(entity, record_id, identity)

    def find_created(self, entity: str, values: dict[str, str],
                     identity: str) -> list[Any] | None:
        return self.api.find_created(entity, values, identity)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None


def create_load_driver(env: DriverEnvironment) -> LoadDriver:
    """The registry's factory for the load driver."""
    return LoadDriver(env)


# --------------------------------------------------------------------------- one run


class LoadRun:
    """One run of one `load:`, from the logins to the judgement."""

    def __init__(self, driver: LoadDriver, spec: LoadSpec, ctx: Any) -> None:
        self.driver = driver
        self.spec = spec
        self.ctx = ctx
        self.target = driver.env.target
        self.progress: Callable[[str], None] = getattr(ctx, "progress", None) or _quiet
        self.out_dir = Path(ctx.evidence.path_for("load")).resolve()
        self.handed_over = False
        self.timed_out = False
        self.distributed = False

    def execute(self) -> StepOutput:
        try:
            setting = load_setting()
        except LoadOptionError as error:
            raise StepDefect(f"load options: {error}") from None
        if setting.distributed and setting.bind_port == 0:
            setting = replace(setting, bind_port=free_loopback_port())
        self.distributed = setting.distributed
        self._log_in(self._identities())
        self.out_dir.mkdir(parents=True, exist_ok=True)
        locustfile = self.out_dir / "locustfile.py"
        spec = load_spec(
            self.spec, case_id=self.ctx.case_id, target=self.target,
            base_dir=self.driver.env.base_dir, templates=self.ctx.templates,
            locale=_locale(self.ctx.templates), out_dir=self.out_dir, setting=setting,
            run_token=secrets.token_hex(3))
        locustfile.write_text(render_locustfile(spec), encoding="utf-8")
        processes = LocustProcesses(self.out_dir)
        try:
            processes.start(locustfile, setting)
            self._watch(processes, setting)
        finally:
            processes.stop()  # also on Ctrl-C: Locust stops its users and writes its files
            processes.close()
            journal = Journal.read(self.out_dir)
            self._hand_over(journal)  # the engine deletes them, whatever happens next
        return self._judge(processes, journal)

    # ------------------------------------------------------------------ before

    def _identities(self) -> list[str]:
        used: dict[str, None] = {}
        default = self.target.default_identity
        for scenario in self.spec.scenarios:
            for step in [*scenario.setup, *(s for task in scenario.tasks for s in task.steps)]:
                identity = step.as_ or scenario.as_ or default
                if isinstance(step, RequestStep) and not step.request.auth:
                    continue
                used[identity] = None
        return [name for name in used if name != ANONYMOUS]

    def _log_in(self, identities: Iterable[str]) -> None:
        """Each identity logs in once before the load: wrong credentials stop it here."""
        for identity in identities:
            session = self.driver.api.session(identity)
            if session.before_send is not None:
                session.before_send(session)

    # ------------------------------------------------------------------ during

    def _watch(self, processes: LocustProcesses, setting: LoadSetting) -> None:
        budget = self.spec.planned_duration_s() + START_GRACE_S + STOP_GRACE_S
        deadline = time.monotonic() + min(budget, self.spec.limits.max_duration_s
                                          + START_GRACE_S + STOP_GRACE_S)
        timeline = self.out_dir / "timeline.jsonl"
        offset = 0
        shown = 0.0
        seen: list[Second] = []
        while not processes.lead_done():
            time.sleep(0.5)
            known = len(seen)
            offset = _read_new(timeline, offset, seen)
            if len(seen) > known and (time.monotonic() - shown >= PROGRESS_EVERY_S
                                      or seen[-1].phase != seen[known - 1].phase):
                shown = time.monotonic()
                self.progress(self._progress_line(seen))
            if time.monotonic() > deadline:
                self.timed_out = True
                processes.stop("out of time")
                break
        if setting.distributed:
            processes.wait_workers()

    def _progress_line(self, seen: list[Second]) -> str:
        last = seen[-1]
        recent = tally(seen[-3:])
        total = tally(seen)
        p95 = f"{recent.percentile(0.95):.0f} ms" if recent.requests else "-"
        return (f"load {self.ctx.case_id}: {last.t:5.0f} s  {last.phase:<9} "
                f"{last.users:4d} users  {recent.rps:7.1f} req/s  p95 {p95:>7}  "
                f"errors {total.error_rate_pct:5.2f}% ({total.failures:,} of "
                f"{total.requests:,})")

    # ------------------------------------------------------------------ after

    def _hand_over(self, journal: Journal) -> None:
        """Every record the load left in the CRM goes to the engine's clean-up list."""
        if self.handed_over:
            return
        self.handed_over = True
        for record in journal.remaining():
            self.ctx.track_created(record.entity, record.record_id,
                                   record.identity or self.target.default_identity)

    def _judge(self, processes: LocustProcesses, journal: Journal) -> StepOutput:
        problems = _problems(self.out_dir / "problems.jsonl")
        log = processes.log_tail()
        self.ctx.keep_evidence("Locust log", lambda: log or "(empty)")
        bugs = [message for message, kind in problems.items() if kind == "crmqa"]
        if bugs:
            raise RuntimeError(f"the load stopped: {bugs[0]}")
        if problems:
            first = next(iter(problems))
            raise StepDefect(
                f"the load stopped: {first} (a mistake in the plan that showed only while it "
                f"ran; {len(problems)} kind(s) found)")
        timeline = read_timeline(self.out_dir / "timeline.jsonl")
        requests = tally(timeline).requests + sum(
            part.requests for second in timeline for (kind, _), part in second.entries.items()
            if kind == "auth")
        if not timeline and (self.timed_out or self.distributed):
            raise EnvironmentProblem(
                f"the load did not start within {seconds(START_GRACE_S)} (workers that never "
                f"connected?); Locust said: {log[-500:] or 'nothing'}")
        if not timeline or requests == 0:
            code = processes.lead.returncode
            raise RuntimeError(f"Locust made no request (exit code {code}): "
                               f"{log[-800:] or 'no output'}")
        checks, summary = self._checks(timeline)
        checks += self._recovery(timeline)
        checks += self._writes_kept(journal)
        stopped = _stopped(self.out_dir)
        if stopped:
            checks.insert(0, CheckResult(name="abort_on_fail", ok=False, expected="no threshold "
                                         "lost while running", actual=stopped,
                                         message=f"load {stopped}"))
        if self.timed_out:
            bound = seconds(self.spec.limits.max_duration_s)
            checks.append(CheckResult(
                name="duration", ok=False, expected=f"within {bound}", actual="still running",
                message="the load ran past its time bound and was stopped"))
        attachments = self._evidence(timeline, checks)
        return StepOutput(data={"requests": tally(timeline).requests,
                                "peak_users": peak_users(timeline)},
                          checks=checks, attachments=attachments, summary=summary)

    def _checks(self, timeline: list[Second]) -> tuple[list[CheckResult], str]:
        loading = [second for second in timeline if second.phase != "recovery"]
        figures = tally(loading)
        summary = (f"{figures.requests:,} requests, {figures.rps:.1f} req/s, p95 "
                   f"{figures.percentile(0.95):.0f} ms, errors {figures.error_rate_pct:.2f}%, "
                   f"up to {peak_users(loading)} users")
        if isinstance(self.spec.shape, StepRampShape):
            return self._capacity(loading), summary
        return [_check(judgement) for judgement in judge(self.spec.slo, loading)], summary

    def _capacity(self, loading: list[Second]) -> list[CheckResult]:
        shape = self.spec.shape
        assert isinstance(shape, StepRampShape)
        capacity = 0
        broke: list[Judgement] = []
        steps = 0
        for phase in dict.fromkeys(second.phase for second in loading):
            window = [second for second in loading if second.phase == phase]
            steps += 1
            broken = window_ok(self.spec.slo, window)
            if broken:
                broke = broken
                break
            capacity = max(capacity, max(second.users for second in window))
        if broke:
            why = f"; the next step broke it: {broke[0].message()}"
        else:
            why = f"; every one of {steps} step(s) kept the SLOs (max_users reached)"
        required = shape.required_users
        ok = capacity >= required if required is not None else capacity > 0
        expected = f">= {required} users" if required is not None else "> 0 users"
        message = "" if ok else (
            f"capacity is {capacity} users, below the {required} required{why}"
            if required is not None else f"no step kept every SLO{why}")
        return [CheckResult(name="capacity", ok=ok, expected=expected,
                            actual=f"{capacity} users{why}", message=message)]

    def _recovery(self, timeline: list[Second]) -> list[CheckResult]:
        recovery = self.spec.recovery
        if recovery is None or recovery.within_s is None:
            return []
        watch = [second for second in timeline if second.phase == "recovery"]
        if not watch:
            return [CheckResult(name="recovery", ok=False, expected=f"within "
                                f"{seconds(recovery.within_s)}", actual="not watched",
                                message="recovery: the load ended before the recovery watch")]
        start = watch[0].t - 1.0
        window = max(1, round(recovery.window_s))
        for first in range(0, max(len(watch) - window + 1, 0)):
            part = watch[first:first + window]
            if not window_ok(self.spec.slo, part):
                after = part[0].t - 1.0 - start
                return [CheckResult(name="recovery", ok=True, expected=f"within "
                                    f"{seconds(recovery.within_s)}",
                                    actual=f"SLOs held again after {after:.0f} s")]
        last = window_ok(self.spec.slo, watch[-window:])
        why = last[0].message() if last else "too few seconds to judge a window"
        return [CheckResult(
            name="recovery", ok=False, expected=f"within {seconds(recovery.within_s)}",
            actual="not recovered",
            message=f"recovery: the SLOs did not hold again over {seconds(recovery.window_s)} "
            f"within {seconds(recovery.within_s)} after the load; last: {why}")]

    def _writes_kept(self, journal: Journal) -> list[CheckResult]:
        recovery = self.spec.recovery
        if recovery is None or not recovery.writes_kept:
            return []
        records = journal.remaining()
        if len(records) > READ_BACK_LIMIT:
            stride = len(records) / READ_BACK_LIMIT
            records = [records[int(index * stride)] for index in range(READ_BACK_LIMIT)]
        api = self.driver.api
        lost: list[Record] = []
        for record in records:
            identity = record.identity or self.target.default_identity
            call = OperationCall(entity=record.entity, operation="get",
                                 args={"id": record.record_id}, identity=identity)
            result = api.runner.perform(call, api.session(identity), None)
            if result.outcome != "ok":
                lost.append(record)
        created = len(journal.created)
        expected = "every record created with a success can be read back"
        if not lost:
            return [CheckResult(name="writes kept", ok=True, expected=expected,
                                actual=f"{len(records)} of {len(records)} read back "
                                f"({created} created, the rest deleted by the load itself)")]
        shown = ", ".join(f"{r.entity} {r.record_id}" for r in lost[:10]) + (
            f" and {len(lost) - 10} more" if len(lost) > 10 else "")
        return [CheckResult(
            name="writes kept", ok=False, expected=expected,
            actual=f"{len(lost)} of {len(records)} lost",
            message=f"{len(lost)} record(s) the CRM acknowledged creating cannot be read back: "
            f"{shown}")]

    # ------------------------------------------------------------------ evidence

    def _evidence(self, timeline: list[Second], checks: list[CheckResult]) -> list[Attachment]:
        attachments = [Attachment(name="load results", text=_results_table(timeline, checks))]
        title = f"{self.ctx.case_id}: " + (
            next((c.actual for c in checks if c.name == "capacity"), None) or
            ("SLOs kept" if all(c.ok for c in checks) else "SLOs missed"))
        try:
            chart = draw_load_chart(timeline, self.spec.slo, self.out_dir / "load.png",
                                    str(title))
            attachments.append(Attachment(name=f"load chart: {self.ctx.case_id}",
                                          mime_type="image/png", path=str(chart),
                                          show_in_summary=True))
        except ChartsUnavailable as missing:
            attachments.append(Attachment(name="load chart not drawn", text=str(missing)))
        for name, kind in (("locust_stats.csv", "text/csv"),
                           ("locust_stats_history.csv", "text/csv"),
                           ("locust_failures.csv", "text/csv"), ("locust.html", "text/html")):
            path = self.out_dir / name
            if path.exists():
                attachments.append(Attachment(name=f"Locust {name}", mime_type=kind,
                                              path=str(path)))
        return attachments


def _check(judgement: Judgement) -> CheckResult:
    return CheckResult(name=judgement.name, ok=judgement.ok, expected=judgement.required_text(),
                       actual=judgement.actual_text(),
                       message="" if judgement.ok else judgement.message())


def _results_table(timeline: list[Second], checks: list[CheckResult]) -> str:
    """The load's figures per request name and the checks, as plain text for reports."""
    loading = [second for second in timeline if second.phase != "recovery"]
    rows = ["type | name | requests | failures | req/s | p50 ms | p95 ms | p99 ms | max ms"]
    for kind, name in names_seen(loading):
        figures = tally(loading, Scope(operation=name, scenario=kind))
        rows.append(f"{kind} | {name} | {figures.requests} | {figures.failures} | "
                    f"{figures.rps:.1f} | {figures.percentile(0.5):.0f} | "
                    f"{figures.percentile(0.95):.0f} | {figures.percentile(0.99):.0f} | "
                    f"{figures.max_ms:.0f}")
    rows += ["", "checks:"]
    rows += [f"{'PASS' if check.ok else 'FAIL'} {check.name}: {check.actual} "
             f"(required {check.expected})" for check in checks]
    return "\n".join(rows)


def _read_new(path: Path, offset: int, into: list[Second]) -> int:
    """Complete timeline lines written since `offset`; the new offset."""
    if not path.exists():
        return offset
    with path.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read()
    end = chunk.rfind(b"\n")
    if end < 0:
        return offset
    for line in chunk[: end + 1].decode("utf-8").splitlines():
        if line.strip():
            into.append(Second.from_json(line))
    return offset + end + 1


def _problems(path: Path) -> dict[str, str]:
    """Problems the Locust processes reported: message -> kind (`plan` or `crmqa`)."""
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
            found.setdefault(str(item["message"]), str(item.get("kind", "plan")))
        except (ValueError, KeyError):
            continue
    return found


def _stopped(folder: Path) -> str | None:
    """Why an abort_on_fail threshold stopped the load, if one did."""
    path = folder / "stopped.json"
    if not path.exists():
        return None
    try:
        stopped = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return str(stopped.get("reason")) if stopped.get("kind") == "abort" else None


def _locale(templates: dict[str, Any]) -> str | list[str]:
    fake = templates.get("fake")
    locales = getattr(fake, "locales", None) if fake is not None else None
    return list(locales) if locales else "en_US"


def _quiet(text: str) -> None:
    return None


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a local master)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
