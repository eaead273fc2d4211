"""The fuzz driver: Schemathesis generates the requests, crmqa's API session sends them.

Schemathesis reads the document and makes Hypothesis strategies of each operation's
requests; the requests go through the identity's `ApiSession` (the profile's auth, headers
and redaction), without following redirects, to the target's base URL. A 5xx answer is a
finding: its request as a curl command (secrets redacted) is the evidence. A connection error
or a timeout is the environment's problem, not a finding.
"""

from __future__ import annotations

import fnmatch
import json
import time
from dataclasses import dataclass, field
from typing import Any

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.results import Attachment, CheckResult
from crmqa.drivers.base import StepContext, StepOutput
from crmqa.drivers.registry import DriverEnvironment, StepDefect
from crmqa.fuzzing.step import FuzzSpec, FuzzStep
from crmqa.profiles.models import NoEquivalent


class _OutOfTime(Exception):
    """The step's time bound is reached: stop generating."""


class _Found(Exception):
    """The operation answered 5xx: one finding is enough evidence, stop generating for it."""


@dataclass
class Finding:
    """One operation that answered 5xx, and the request that showed it."""

    operation: str
    status: int
    request: str  # as a curl command
    answer: str


@dataclass
class FuzzReport:
    """What one fuzz step did."""

    operations: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # operations Schemathesis could not use
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    stopped: str | None = None  # why it stopped early (time, too many findings)


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

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        """Fuzzing only reads: it creates nothing to clean up."""
        return None

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
        session = self._session(step.as_ or self.env.target.default_identity)
        document = self._document(session, spec)
        report = fuzz(document, spec, lambda method, path, query, headers: session.send(
            method, path, params=query, headers=headers, allow_redirects=False,
            name=f"fuzz {method} {path}"), session.redactor)
        return _output(spec, report)

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


def fuzz(document: dict[str, Any], spec: FuzzSpec, send: Any, redactor: Any = None
         ) -> FuzzReport:
    """Fuzz every chosen operation of `document` with `send(method, path, query, headers)`
    (which returns an exchange with `.response`); a 5xx answer is a finding."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from schemathesis.core.result import Err

    schema = schemathesis.openapi.from_dict(document)
    report = FuzzReport()
    deadline = time.monotonic() + spec.max_seconds
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
        if report.stopped:
            break
        if time.monotonic() >= deadline:
            report.stopped = f"the time bound ({spec.max_seconds:g} s) was reached"
            break
        label = f"{method} {path}"
        report.operations.append(label)
        found: list[Finding] = []

        one = _probe(method, label, found, report, send, redactor, deadline)
        test = settings(max_examples=spec.max_examples, deadline=None, database=None,
                        phases=[Phase.explicit, Phase.generate],
                        suppress_health_check=list(HealthCheck),
                        print_blob=False)(given(operation.as_strategy())(one))
        if spec.seed is not None:
            test = hypothesis_seed(spec.seed)(test)
        try:
            test()
        except _Found:
            pass
        except _OutOfTime:
            report.stopped = f"the time bound ({spec.max_seconds:g} s) was reached"
        except EnvironmentProblem:
            raise
        except Exception as error:
            report.skipped.append(f"{label}: {type(error).__name__}: "
                                  f"{str(error).splitlines()[0][:200] if str(error) else ''}")
        report.findings.extend(found)
        if len(report.findings) >= spec.max_failures:
            report.stopped = f"{len(report.findings)} operations answered with a server error"
    return report


def _probe(method: str, label: str, found: list[Finding], report: FuzzReport, send: Any,
           redactor: Any, deadline: float) -> Any:
    """The function Hypothesis calls with each generated request of one operation."""

    def one(case: Any) -> None:
        if found:
            raise _Found  # Hypothesis replays a failing example: no second request
        if time.monotonic() >= deadline:
            raise _OutOfTime
        target = case.formatted_path
        query = dict(case.query or {})
        headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
        try:
            response = send(method, target, query, headers).response
        except EnvironmentProblem:
            # A server may close a kept-alive connection after an error; once more on a new
            # one, and only then is the target's trouble the environment's.
            response = send(method, target, query, headers).response
        report.requests += 1
        key = f"{response.status_code // 100}xx"
        report.statuses[key] = report.statuses.get(key, 0) + 1
        if response.status_code >= 500:
            found.append(Finding(label, response.status_code,
                                 _curl(method, response.request.url or target, headers,
                                       redactor),
                                 _clip(response.text)))
            raise _Found

    return one


def _curl(method: str, url: str, headers: dict[str, str], redactor: Any) -> str:
    shown = redactor.url(url) if redactor is not None else url
    parts = [f"curl -X {method} '{shown}'"]
    for name, value in headers.items():
        if redactor is not None and name.lower() in ("authorization", "cookie"):
            value = "***"
        parts.append(f"-H '{name}: {value}'")
    return " ".join(parts)


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def _output(spec: FuzzSpec, report: FuzzReport) -> StepOutput:
    checks = [CheckResult(
        name=f"no server error from {len(report.operations)} operation(s)",
        ok=not report.findings, expected="no 5xx answer",
        actual=[f"{f.operation} -> {f.status}" for f in report.findings] or "none",
        message="" if not report.findings else (
            f"{len(report.findings)} operation(s) answered with a server error: "
            + "; ".join(f"{f.operation} -> {f.status}, reproduce with: {f.request}"
                        for f in report.findings[:3])))]
    if not report.operations:
        checks.append(CheckResult(
            name="operations fuzzed", ok=False, expected="at least one operation",
            actual=0, message=f"fuzz: no operation of {spec.openapi} matched the step's "
            "methods, include and exclude"))
    data = {"operations": report.operations, "requests": report.requests,
            "statuses": report.statuses, "skipped": report.skipped,
            "stopped": report.stopped,
            "findings": [vars(f) for f in report.findings]}
    attachments = [Attachment(name="fuzzing: server errors and their requests",
                              text=json.dumps(data["findings"], indent=2, ensure_ascii=False))
                   ] if report.findings else []
    summary = (f"fuzz {spec.openapi}: {report.requests} requests to "
               f"{len(report.operations)} operations, {len(report.findings)} server error(s)"
               + (f"; stopped: {report.stopped}" if report.stopped else ""))
    return StepOutput(data=data, outcome="ok", checks=checks, attachments=attachments,
                      summary=summary)


def create_fuzz_driver(env: DriverEnvironment) -> FuzzDriver:
    """The registry's factory: one fuzz driver per engine (target and worker)."""
    return FuzzDriver(env)


__all__ = ["Finding", "FuzzDriver", "FuzzReport", "create_fuzz_driver", "fuzz"]
