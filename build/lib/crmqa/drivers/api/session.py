"""One HTTP session per target, identity and worker, with timeouts, retries and evidence.

- Every call has a timeout (the target's, or the step's).
- Connection errors are retried (urllib3 `Retry(connect=N)`). Beyond that, a request is sent
  again only when it is idempotent (GET, HEAD, OPTIONS, PUT, DELETE) and its connection was
  closed before any answer: a CRM may close an idle keep-alive connection just as it is
  reused. A POST is never repeated, so it cannot create two leads.
- Every call emits a `DriverCall` event and is recorded as an `Exchange`, whose redacted text
  is built only when someone asks for it (evidence is cheap when nobody looks).
- Connection refused, timeouts and similar become `EnvironmentProblem`s: the environment is
  broken, the product is not proven faulty.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import RequestHistory, Retry

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.events import DriverCall, emit
from crmqa.drivers.api.redaction import Redactor
from crmqa.profiles.templates import common_context, render_value

CONNECT_RETRIES = 2
CLOSED_CONNECTION_RETRIES = 1
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_EVIDENCE_BODY = 64_000
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class Exchange:
    """One request and its response (or the error that stopped it)."""

    method: str
    url: str
    request: requests.PreparedRequest | None
    response: requests.Response | None
    elapsed_ms: float
    redactor: Redactor
    error: str | None = None
    name: str = ""  # the event name: "POST /api/leads/{id}" (templated path) or the raw path

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    def summary(self) -> str:
        """`GET /api/leads?q=smith -> 200`, secrets redacted; used in failure messages."""
        parts = urlsplit(self.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        result = str(self.status) if self.status is not None else (self.error or "no answer")
        return f"{self.method} {self.redactor.url(target)} -> {result}"

    def render(self) -> str:
        """The full redacted request and response as text (built on demand)."""
        lines = [f"{self.method} {self.redactor.url(self.url)}"]
        if self.request is not None:
            for name, value in self.redactor.headers(self.request.headers).items():
                lines.append(f"{name}: {value}")
            body = self.request.body
            if body:
                if _is_multipart(self.request):
                    text = f"<multipart body, {len(body)} bytes>"
                else:
                    text = self.redactor.body(body, self.request.headers.get("Content-Type"))
                lines += ["", _clip(text)]
        lines.append("")
        if self.response is None:
            lines.append(f"--- no response: {self.error}")
            return "\n".join(lines)
        reason = self.response.reason or ""
        lines.append(f"--- {self.response.status_code} {reason} ({self.elapsed_ms:.0f} ms)")
        for name, value in self.redactor.headers(self.response.headers).items():
            lines.append(f"{name}: {value}")
        content = self.response.content
        if content:
            kind = self.response.headers.get("Content-Type")
            lines += ["", _clip(self.redactor.body(content, kind))]
        return "\n".join(lines)


def _is_multipart(request: requests.PreparedRequest) -> bool:
    return "multipart/" in (request.headers.get("Content-Type") or "")


def _clip(text: str) -> str:
    if len(text) <= MAX_EVIDENCE_BODY:
        return text
    return text[:MAX_EVIDENCE_BODY] + f"\n... ({len(text) - MAX_EVIDENCE_BODY} more characters)"


ExchangeSink = Callable[[Exchange], None]


class _ClosedConnectionRetry(Retry):
    """urllib3's retry policy, plus: an idempotent request whose connection was closed before
    any answer is sent once more. Read timeouts and answers are never retried (`read=False`):
    a slow CRM must show as slow, not be hidden behind a second wait."""

    closed_left: int = CLOSED_CONNECTION_RETRIES

    def new(self, **kw: Any) -> _ClosedConnectionRetry:
        closed_left = kw.pop("closed_left", self.closed_left)
        retry = super().new(**kw)
        retry.closed_left = closed_left
        return retry

    def increment(self, method: str | None = None, url: str | None = None,
                  response: Any = None, error: Exception | None = None,
                  _pool: Any = None, _stacktrace: Any = None) -> _ClosedConnectionRetry:
        if (error is not None and response is None and self.closed_left > 0
                and (method or "").upper() in IDEMPOTENT_METHODS
                and _closed_before_answer(error)):
            return self.new(closed_left=self.closed_left - 1,
                            history=(*self.history,
                                     RequestHistory(method, url, error, None, None)))
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _closed_before_answer(error: Exception) -> bool:
    """urllib3 wraps a connection the server closed or reset before the status line in
    `ProtocolError("Connection aborted.", <OSError>)`; `http.client.RemoteDisconnected` is a
    `ConnectionResetError`."""
    if not isinstance(error, ProtocolError):
        return False
    cause = error.args[1] if len(error.args) > 1 else error.__cause__
    return isinstance(cause, ConnectionResetError | BrokenPipeError | ConnectionAbortedError)


class ApiSession:
    """A `requests.Session` for one identity, plus the hooks auth needs.

    `prepare_headers` (set by the authenticator) adds per-call headers such as a CSRF token;
    `before_send` (also the authenticator's) logs in lazily or when a token expired.
    """

    def __init__(
        self,
        base_url: str,
        identity: str,
        redactor: Redactor,
        timeout_s: float,
        verify_tls: bool = True,
        connect_retries: int = CONNECT_RETRIES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.redactor = redactor
        self.timeout_s = timeout_s
        self.http = requests.Session()
        self.http.verify = verify_tls
        # Reading proxy settings from the environment on every call is slow; only do it when
        # the machine actually has proxy variables.
        self.http.trust_env = any(os.environ.get(var) for var in _PROXY_VARS)
        retry = _ClosedConnectionRetry(
            total=None, connect=connect_retries, read=False, status=0, other=False, redirect=None,
            backoff_factor=0.1, raise_on_status=False, respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=4)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.sink: ExchangeSink | None = None
        self.before_send: Callable[[ApiSession], None] | None = None
        self.extra_headers: Callable[[str], dict[str, str]] | None = None
        # The profile's own headers and query parameters for every request (templates), and
        # the names its templates see: the environment, the target, this identity.
        self.default_headers: dict[str, Any] = {}
        self.default_params: dict[str, Any] = {}
        self.template_context: dict[str, Any] = common_context(
            os.environ, {"name": "", "base_url": self.base_url}, {"name": identity})

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **options: Any) -> requests.Response:
        """Send one request (the options of `send`); returns the response, or raises
        `EnvironmentProblem`. This is the `http.request` an adapter is given."""
        return self.send(method, path, **options).response  # type: ignore[return-value]

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
        name: str | None = None,
        authenticate: bool = True,
        allow_redirects: bool = True,
    ) -> Exchange:
        """Send one request and return the recorded exchange (response always present);
        `allow_redirects=False` keeps the answer of the target itself (no other host)."""
        if authenticate and self.before_send is not None:
            self.before_send(self)
        url = self.url_for(path)
        if self.extra_headers is not None:
            headers = {**self.extra_headers(method), **(headers or {})}
        if self.default_headers:
            headers = {**as_header_values(self.rendered(self.default_headers, "headers")),
                       **(headers or {})}
        if self.default_params:
            # A next-page link already carries the profile's parameters: never twice.
            in_url = {name for name, _ in parse_qsl(urlsplit(url).query)}
            defaults = {name: value for name, value
                        in self.rendered(self.default_params, "params").items()
                        if name not in in_url}
            params = {**defaults, **(params or {})}
        timeout = timeout_s or self.timeout_s
        event_name = name or f"{method} {urlsplit(url).path}"
        start_wall = time.time()
        start = time.perf_counter()
        try:
            response = self.http.request(
                method, url, params=params, json=json, data=data, files=files,
                headers=headers, timeout=timeout, allow_redirects=allow_redirects,
            )
        except requests.Timeout:
            problem = f"no answer within {timeout:g} s"
            self._record_failure(method, url, start, start_wall, event_name, problem)
            raise EnvironmentProblem(f"{problem}: {method} {self._display(url)}") from None
        except requests.ConnectionError as exc:
            problem = f"cannot connect to {self.base_url} ({_reason(exc)})"
            self._record_failure(method, url, start, start_wall, event_name, problem)
            raise EnvironmentProblem(f"{problem}: {method} {self._display(url)}") from None
        except requests.RequestException as exc:
            problem = f"request failed ({_reason(exc)})"
            self._record_failure(method, url, start, start_wall, event_name, problem)
            raise EnvironmentProblem(f"{problem}: {method} {self._display(url)}") from None
        elapsed_ms = (time.perf_counter() - start) * 1000
        exchange = Exchange(
            method=method, url=response.request.url or url, request=response.request,
            response=response, elapsed_ms=elapsed_ms, redactor=self.redactor, name=event_name,
        )
        if self.sink is not None:
            self.sink(exchange)
        emit(DriverCall(
            kind="api", name=event_name, start=start_wall, duration_ms=elapsed_ms,
            ok=response.status_code < 500,
            error=None if response.status_code < 500 else f"HTTP {response.status_code}",
            extra={"status": response.status_code, "identity": self.identity},
        ))
        return exchange

    def rendered(self, values: dict[str, Any], where: str,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Templated request parts (headers, parameters) for this identity, with what renders
        to null or empty text left out."""
        context = {**self.template_context, **(extra or {})}
        return without_empty(render_value(values, context, where))

    def _display(self, url: str) -> str:
        parts = urlsplit(url)
        return self.redactor.url(parts.path + (f"?{parts.query}" if parts.query else ""))

    def _record_failure(
        self, method: str, url: str, start: float, start_wall: float, name: str, problem: str
    ) -> None:
        elapsed_ms = (time.perf_counter() - start) * 1000
        if self.sink is not None:
            self.sink(Exchange(method=method, url=url, request=None, response=None,
                               elapsed_ms=elapsed_ms, redactor=self.redactor, error=problem,
                               name=name))
        emit(DriverCall(kind="api", name=name, start=start_wall, duration_ms=elapsed_ms,
                        ok=False, error=problem, extra={"identity": self.identity}))

    def close(self) -> None:
        self.http.close()


def without_empty(values: Any) -> dict[str, Any]:
    """Request parts without the entries that rendered to null or empty text."""
    if not isinstance(values, dict):
        return {}
    return {name: value for name, value in values.items() if value is not None and value != ""}


def as_header_values(values: dict[str, Any]) -> dict[str, str]:
    """Header values as text (`true`, `7`, compact JSON for structures)."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, dict | list):
            out[name] = json_text(value)
        else:
            out[name] = str(value)
    return out


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "Connection reset", "Remote end closed connection"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
