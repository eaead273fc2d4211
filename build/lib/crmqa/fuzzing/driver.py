"""The fuzz driver: Schemathesis generates the requests, crmqa's API session sends them.

Schemathesis reads the document and makes Hypothesis strategies of each operation's
requests; the requests go through the identity's `ApiSession` (the profile's auth, headers
and redaction), without following redirects, to the target's base URL. A finding is a 5xx
answer, and with the step's `checks` an answer that does not conform to the schema the
document declares for it, or a 2xx answer to invalid input; its request as a curl command
(secrets redacted) is the evidence. A connection error or a timeout is the environment's
problem, not a finding. Writes go only where crmqa.fuzzing.records allows, and what they made
is handed to the engine to delete.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.results import Attachment, CheckResult
from crmqa.drivers.base import StepContext, StepOutput
from crmqa.drivers.registry import DriverEnvironment, StepDefect
from crmqa.fuzzing.records import ACTION_ORDER, OwnRecords, WriteOperation, profile_writes
from crmqa.fuzzing.step import WRITE_METHODS, FuzzSpec, FuzzStep
from crmqa.profiles.models import NoEquivalent

#: `send(method, path, query, headers, body, media_type)` -> an exchange with `.response`
Send = Callable[[str, str, dict[str, Any], dict[str, str], Any, "str | None"], Any]

# The kinds of finding, as reports name them.
SERVER_ERROR = "server error"
OFF_SCHEMA = "answer off the declared schema"
INVALID_ACCEPTED = "invalid input accepted"
_KIND_OF_CHECK = {"server_errors": SERVER_ERROR, "schema": OFF_SCHEMA,
                  "invalid_accepted": INVALID_ACCEPTED}


class _OutOfTime(Exception):
    """The step's time bound is reached: stop generating."""


class _Found(Exception):
    """The operation had a finding: one is enough evidence, stop generating for it."""


@dataclass
class Finding:
    """One operation's finding, and the request that showed it."""

    operation: str
    status: int
    request: str  # as a curl command
    answer: str
    kind: str = SERVER_ERROR
    detail: str = ""


@dataclass
class FuzzReport:
    """What one fuzz step did."""

    operations: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # operations Schemathesis could not use
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    stopped: str | None = None  # why it stopped early (time, too many findings)
    created: int = 0  # records fuzzed writes made, handed to the engine to delete
    untraced: list[str] = field(default_factory=list)  # writes that made what no answer named


def _matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


class FuzzDriver:
    """Runs `FuzzStep`s for one target and worker."""

    name = "fuzz"

    def __init__(self, env: DriverEnvironment) -> None:
        self.env = env
        self._api: Any = None

    def handles(self, step: Any) -> bool:
        return isinstance(step, FuzzStep)

    def needs(self, step: Any) -> list[str]:
        return []

    def can_delete(self, entity: str) -> bool:
        """Records fuzzed writes made are deleted by the driver of their entity (the API's)."""
        return False

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        """Fuzzing deletes nothing itself: the engine asks the driver that can."""
        raise EnvironmentProblem(f"the fuzz driver cannot delete a {entity}: no driver of "
                                 "this target can")

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def _session(self, identity: str) -> Any:
        if self._api is None:
            from crmqa.drivers.api.driver import create_api_driver

            self._api = create_api_driver(self.env)
        return self._api.session(identity)

    def run(self, step: Any, ctx: StepContext) -> StepOutput:
        assert isinstance(step, FuzzStep)
        spec = step.fuzz
        identity = step.as_ or self.env.target.default_identity
        session = self._session(identity)
        document = self._document(session, spec)
        own = None
        if any(method in WRITE_METHODS for method in spec.methods):
            runner = self._api.runner
            own = OwnRecords(
                profile_writes(self._api.profile),
                read_created=lambda write, exchange: runner.created_by(
                    write.entity, write.action, exchange),
                track=lambda entity, record_id: ctx.track_created(entity, record_id, identity))
            self._make_records(spec, session, identity, ctx, own)

        def send(method: str, path: str, query: dict[str, Any], headers: dict[str, str],
                 body: Any, media_type: str | None) -> Any:
            payload = _payload(body, media_type)
            headers = {**headers, **payload.pop("headers", {})}
            return session.send(method, path, params=query, headers=headers,
                                allow_redirects=False, name=f"fuzz {method} {path}",
                                **payload)

        report = fuzz(document, spec, send, session.redactor, own)
        return _output(spec, report)

    def _make_records(self, spec: FuzzSpec, session: Any, identity: str, ctx: StepContext,
                      own: OwnRecords) -> None:
        """The step's `records`, made through the profile's create and tracked at once."""
        from crmqa.drivers.api.operations import OperationError
        from crmqa.profiles.adapter import OperationCall

        for entity, values in spec.records.items():
            if not self._api.profile.supports(f"{entity}.create"):
                own.notes.append(f"records: {entity}: the profile has no {entity}.create")
                continue
            call = OperationCall(entity=entity, operation="create", args={"data": values},
                                 identity=identity)
            try:
                result = self._api.perform(call, session)
            except OperationError as error:
                raise StepDefect(f"fuzz: records: {entity}: {error}") from None
            for record_id in result.created_ids:
                ctx.track_created(entity, record_id, identity)
                own.made_before(entity, record_id)
            if result.outcome != "ok":
                raise StepDefect(
                    f"fuzz: records: the {entity} to fuzz writes on was refused "
                    f"({result.outcome}"
                    + (f": {result.field_errors}" if result.field_errors else "") + ")")

    def _document(self, session: Any, spec: FuzzSpec) -> dict[str, Any]:
        if not spec.openapi.startswith("/"):
            raise StepDefect(f"fuzz: openapi must be a path on the target (/openapi.json), "
                             f"not {spec.openapi!r}: the document is read from the target only")
        answer = session.send("GET", spec.openapi, allow_redirects=False,
                              name=f"GET {spec.openapi}").response
        if answer.status_code in (404, 410):
            # Fuzzing needs the document: a target that publishes none cannot be asked.
            raise NoEquivalent(f"the target publishes no OpenAPI document at {spec.openapi}")
        if answer.status_code != 200:
            raise StepDefect(f"fuzz: the OpenAPI document at {spec.openapi} could not be read "
                             f"(the target answered {answer.status_code})")
        try:
            document = answer.json()
        except ValueError:
            raise StepDefect(f"fuzz: {spec.openapi} is not a JSON OpenAPI document") from None
        if not isinstance(document, dict) or "paths" not in document:
            raise StepDefect(f"fuzz: {spec.openapi} is not an OpenAPI document (no `paths`)")
        # Requests go to the target only: the servers the document names are dropped.
        document.pop("servers", None)
        return document


def fuzz(document: dict[str, Any], spec: FuzzSpec, send: Send, redactor: Any = None,
         own: OwnRecords | None = None) -> FuzzReport:
    """Fuzz every chosen operation of `document` with `send(method, path, query, headers,
    body, media_type)` (which returns an exchange with `.response`).

    Reads first, then the writes `own` allows (creates, then updates and conversions, then
    deletions); without `own`, no write is sent. A finding (a 5xx answer, and with `checks`
    an answer off its declared schema or invalid input accepted) ends the operation.
    """
    import schemathesis
    from schemathesis.core.result import Err

    schema = schemathesis.openapi.from_dict(document)
    report = FuzzReport()
    deadline = time.monotonic() + spec.max_seconds
    planned: list[tuple[int, Any, WriteOperation | None]] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # Schemathesis says why it cannot use the operation
            report.skipped.append((str(result.err()).splitlines() or ["?"])[0][:200])
            continue
        operation = result.ok()
        method = operation.method.upper()
        path = operation.path
        if method not in spec.methods or (spec.include and not _matches(path, spec.include)) \
                or _matches(path, spec.exclude):
            continue
        write = None
        if method in WRITE_METHODS:
            write = own.write_for(method, path) if own is not None else None
            if write is None:
                report.skipped.append(
                    f"{method} {path}: not a write the profile maps (fuzzing writes only each "
                    "entity's create, update, delete and convert)")
                continue
        order = 0 if write is None else 1 + ACTION_ORDER[write.action]
        planned.append((order, operation, write))
    planned.sort(key=lambda item: item[0])  # stable: the document's order within each group
    for _, operation, write in planned:
        if report.stopped:
            break
        if time.monotonic() >= deadline:
            report.stopped = f"the time bound ({spec.max_seconds:g} s) was reached"
            break
        label = f"{operation.method.upper()} {operation.path}"
        fixed: dict[str, Any] | None = None
        if write is not None and own is not None:
            fixed, why = own.path_parameters(write, operation.path)
            if fixed is None:
                report.skipped.append(f"{label}: {why}")
                continue
            label = f"{label} ({write.label})"
        report.operations.append(label)
        _fuzz_operation(operation, label, write, fixed or {}, spec, send, redactor, own,
                        report, deadline)
        if len(report.findings) >= spec.max_failures:
            report.stopped = f"{len(report.findings)} operations had a finding"
    if own is not None:
        report.skipped[:0] = own.notes
        report.created = own.traced
        report.untraced = list(own.untraced)
    return report


def _fuzz_operation(operation: Any, label: str, write: WriteOperation | None,
                    fixed: dict[str, Any], spec: FuzzSpec, send: Send, redactor: Any,
                    own: OwnRecords | None, report: FuzzReport, deadline: float) -> None:
    """Valid examples, then (for `invalid_accepted`) invalid ones, of one operation."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from schemathesis import GenerationMode

    found: list[Finding] = []
    modes = [GenerationMode.POSITIVE]
    if "invalid_accepted" in spec.checks:
        modes.append(GenerationMode.NEGATIVE)
    for mode in modes:
        if found or report.stopped:
            break
        one = _probe(operation, label, write, fixed, spec, found, report, send, redactor, own,
                     deadline)
        try:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)
            test = settings(max_examples=spec.max_examples, deadline=None, database=None,
                            phases=[Phase.explicit, Phase.generate],
                            suppress_health_check=list(HealthCheck),
                            print_blob=False)(given(strategy)(one))
            if spec.seed is not None:
                test = hypothesis_seed(spec.seed)(test)
            test()
        except _Found:
            pass
        except _OutOfTime:
            report.stopped = f"the time bound ({spec.max_seconds:g} s) was reached"
        except EnvironmentProblem:
            raise
        except Exception as error:
            if mode is GenerationMode.NEGATIVE and type(error).__name__ == "Unsatisfiable":
                continue  # nothing of the operation can be made invalid (a fixed path only)
            report.skipped.append(f"{label} ({mode.value} examples): {type(error).__name__}: "
                                  f"{str(error).splitlines()[0][:200] if str(error) else ''}")
    report.findings.extend(found)


def _probe(operation: Any, label: str, write: WriteOperation | None, fixed: dict[str, Any],
           spec: FuzzSpec, found: list[Finding], report: FuzzReport, send: Send,
           redactor: Any, own: OwnRecords | None, deadline: float) -> Any:
    """The function Hypothesis calls with each generated request of one operation."""
    method = operation.method.upper()

    def one(case: Any) -> None:
        if found:
            raise _Found  # Hypothesis replays a failing example: no second request
        if time.monotonic() >= deadline:
            raise _OutOfTime
        if fixed:
            case.path_parameters.update(fixed)  # never a generated id on a write
        target = case.formatted_path
        query = dict(case.query or {})
        headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
        body = _body_of(case)
        try:
            exchange = send(method, target, query, headers, body, case.media_type)
        except EnvironmentProblem:
            # A server may close a kept-alive connection after an error; once more on a new
            # one, and only then is the target's trouble the environment's.
            exchange = send(method, target, query, headers, body, case.media_type)
        response = exchange.response
        report.requests += 1
        key = f"{response.status_code // 100}xx"
        report.statuses[key] = report.statuses.get(key, 0) + 1
        if write is not None and own is not None and 200 <= response.status_code < 300:
            own.answered(write, exchange, dict(case.path_parameters or {}))
        problem = _judge(case, response, spec)
        if problem is not None:
            kind, status_text = problem
            found.append(Finding(label, response.status_code,
                                 _curl(method, response.request.url or target, headers, body,
                                       redactor),
                                 _clip(response.text), kind=kind, detail=status_text))
            raise _Found

    return one


def _judge(case: Any, response: Any, spec: FuzzSpec) -> tuple[str, str] | None:
    """(kind, what is wrong) of a finding in one answer, or None."""
    if response.status_code >= 500:
        return SERVER_ERROR, f"answered {response.status_code}"
    wanted = []
    if "schema" in spec.checks:
        from schemathesis.specs.openapi.checks import response_schema_conformance
        wanted.append(response_schema_conformance)
    if "invalid_accepted" in spec.checks:
        from schemathesis.specs.openapi.checks import negative_data_rejection
        wanted.append(negative_data_rejection)
    if not wanted:
        return None
    from schemathesis.core.failures import AcceptedNegativeData, FailureGroup

    try:
        case.validate_response(response, checks=wanted)
    except FailureGroup as group:
        failure = group.exceptions[0]
        title = str(getattr(failure, "title", "") or type(failure).__name__)
        message = str(getattr(failure, "message", "") or "").strip()
        kind = INVALID_ACCEPTED if isinstance(failure, AcceptedNegativeData) else OFF_SCHEMA
        return kind, (title + (f": {message.splitlines()[0][:300]}" if message else ""))
    return None


def _body_of(case: Any) -> Any:
    from schemathesis.core import NOT_SET

    body = getattr(case, "body", NOT_SET)
    return None if body is NOT_SET else body


def _payload(body: Any, media_type: str | None) -> dict[str, Any]:
    """The session's keyword arguments that send `body` as `media_type`."""
    if body is None:
        return {}
    kind = (media_type or "application/json").split(";", 1)[0].strip().lower()
    if isinstance(body, bytes):  # sent as it is: invalid examples may not even be JSON
        return {"data": body, "headers": {"Content-Type": media_type or "application/json"}}
    if kind == "application/json" or kind.endswith("+json"):
        return {"json": body}
    if kind == "multipart/form-data" and isinstance(body, dict):
        return {"files": {str(name): (None, value if isinstance(value, bytes) else str(value))
                          for name, value in body.items()}}
    if isinstance(body, dict | str | bytes):
        return {"data": body}  # a mapping is sent form-encoded
    return {"json": body}


def _curl(method: str, url: str, headers: dict[str, str], body: Any, redactor: Any) -> str:
    shown = redactor.url(url) if redactor is not None else url
    parts = [f"curl -X {method} '{shown}'"]
    for name, value in headers.items():
        if redactor is not None and name.lower() in ("authorization", "cookie"):
            value = "***"
        parts.append(f"-H '{name}: {value}'")
    if body is not None:
        try:
            text = json.dumps(body, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(body)
        parts.append(f"-d '{_clip(text, 300)}'")
    return " ".join(parts)


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def _output(spec: FuzzSpec, report: FuzzReport) -> StepOutput:
    checks = []
    for check in spec.checks:
        kind = _KIND_OF_CHECK[check]
        found = [f for f in report.findings if f.kind == kind]
        checks.append(CheckResult(
            name=f"no {kind} in {len(report.operations)} operation(s)",
            ok=not found, expected=f"no {kind}",
            actual=[f"{f.operation} -> {f.status}" for f in found] or "none",
            message="" if not found else (
                f"{len(found)} operation(s) with a finding ({kind}): "
                + "; ".join(f"{f.operation} -> {f.status}"
                            + (f" ({f.detail})" if f.detail and kind != SERVER_ERROR else "")
                            + f", reproduce with: {f.request}" for f in found[:3]))))
    if not report.operations:
        checks.append(CheckResult(
            name="operations fuzzed", ok=False, expected="at least one operation",
            actual=0, message=f"fuzz: no operation of {spec.openapi} matched the step's "
            "methods, include and exclude" + (
                f" (left out: {'; '.join(report.skipped[:3])})" if report.skipped else "")))
    data = {"operations": report.operations, "requests": report.requests,
            "statuses": report.statuses, "skipped": report.skipped,
            "stopped": report.stopped, "created": report.created,
            "untraced": report.untraced,
            "findings": [vars(f) for f in report.findings]}
    attachments = [Attachment(name="fuzzing: findings and their requests",
                              text=json.dumps(data["findings"], indent=2, ensure_ascii=False))
                   ] if report.findings else []
    kinds = ", ".join(f"{sum(1 for f in report.findings if f.kind == kind)} {kind}(s)"
                      for kind in (_KIND_OF_CHECK[check] for check in spec.checks))
    summary = (f"fuzz {spec.openapi}: {report.requests} requests to "
               f"{len(report.operations)} operations, {kinds}"
               + (f"; {report.created} record(s) made, deleted when the case ends"
                  if report.created else "")
               + (f"; stopped: {report.stopped}" if report.stopped else ""))
    return StepOutput(data=data, outcome="ok", checks=checks, attachments=attachments,
                      summary=summary)


def create_fuzz_driver(env: DriverEnvironment) -> FuzzDriver:
    """The registry's factory: one fuzz driver per engine (target and worker)."""
    return FuzzDriver(env)


__all__ = ["Finding", "FuzzDriver", "FuzzReport", "create_fuzz_driver", "fuzz"]
