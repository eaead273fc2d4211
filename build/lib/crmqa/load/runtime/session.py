"""A gevent-safe twin of the API driver's `ApiSession`, on Locust's FastHttpUser client.

The canonical operations (`OperationRunner`) and the auth schemes (`auth.configure`) of the
API driver run unchanged inside Locust: they only ever call `session.send(...)`, read
`session.http.headers / params / auth / cookies`, and set `before_send` / `extra_headers`.
`LoadSession` offers exactly that over the virtual user's geventhttpclient agent, so a load
speaks through the target's profile the way a functional case does, at FastHttpUser's cost.

Every request is handed to `sink` as a `LoadExchange` (how long, how big, which status), from
which the flow makes one Locust sample per step. Requests sent while logging in are marked,
so that a login is counted as one of its own, not as part of the first operation's time.
"""

from __future__ import annotations

import base64
import json as jsonlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlencode, urlsplit

from requests.utils import parse_header_links

from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.operations import OperationError
from crmqa.drivers.api.redaction import Redactor

# Every status is an answer the profile maps to a canonical outcome: none is an "error".
_ALL_STATUSES = frozenset(range(100, 600))


class LoadResponse:
    """The parts of a `requests.Response` that crmqa's operations and auth read."""

    def __init__(self, status_code: int, content: bytes, headers: dict[str, str],
                 url: str) -> None:
        self.status_code = status_code
        self.content = content
        self.headers = _Headers(headers)
        self.url = url
        self.reason = ""
        self.encoding: str | None = None

    @property
    def text(self) -> str:
        charset = "utf-8"
        kind = self.headers.get("Content-Type") or ""
        if "charset=" in kind:
            charset = kind.split("charset=", 1)[1].split(";", 1)[0].strip() or charset
        try:
            return self.content.decode(self.encoding or charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def links(self) -> dict[str, dict[str, str]]:
        header = self.headers.get("Link")
        if not header:
            return {}
        found: dict[str, dict[str, str]] = {}
        for link in parse_header_links(header):
            key = link.get("rel") or link.get("url")
            if key:
                found[key] = link
        return found


class _Headers(dict[str, str]):
    """Response headers with case-insensitive `get` and membership (lower-cased when first
    asked: most answers are never asked)."""

    _lower: dict[str, str] | None = None

    def _folded(self) -> dict[str, str]:
        if self._lower is None:
            self._lower = {key.lower(): value for key, value in self.items()}
        return self._lower

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self._folded().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._folded()


@dataclass
class LoadExchange:
    """One request a virtual user sent, as the flow and the operations see it."""

    method: str
    url: str
    response: LoadResponse | None
    elapsed_ms: float
    login: bool = False  # sent while logging in
    error: str | None = None
    name: str = ""

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def size(self) -> int:
        return len(self.response.content) if self.response is not None else 0

    def summary(self) -> str:
        """`GET /api/leads?q=x -> 200` (no secrets: the query is shown as sent)."""
        parts = urlsplit(self.url)
        shown = parts.path + (f"?{parts.query}" if parts.query else "")
        result = str(self.status) if self.status is not None else (self.error or "no answer")
        return f"{self.method} {shown} -> {result}"


class _Cookies:
    """A cookie jar read by name, as the form login reads `requests`' jar."""

    def __init__(self, jar: CookieJar) -> None:
        self._jar = jar

    def __contains__(self, name: object) -> bool:
        return any(cookie.name == name for cookie in self._jar)

    def get(self, name: str, default: str | None = None) -> str | None:
        for cookie in self._jar:
            if cookie.name == name:
                return cookie.value
        return default

    def __iter__(self) -> Iterator[Any]:
        return iter(self._jar)

    def __bool__(self) -> bool:
        return any(True for _ in self._jar)


class _Http:
    """What an auth scheme sets on `session.http`: headers, query params, basic auth, cookies."""

    def __init__(self, jar: CookieJar) -> None:
        self.headers: dict[str, str] = {}
        self.params: dict[str, str] | None = None
        self.auth: tuple[str, str] | None = None
        self.cookies = _Cookies(jar)


class LoadSession:
    """One identity of one virtual user, speaking through the user's FastHttp agent.

    `agent` is the user's geventhttpclient `UserAgent` (`FastHttpUser.client.client`): its
    connection pool and cookie jar are the virtual user's own.
    """

    def __init__(self, base_url: str, identity: str, agent: Any, jar: CookieJar,
                 timeout_s: float, redactor: Redactor | None = None,
                 pace: Callable[[], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.agent = agent
        agent.valid_response_codes = _ALL_STATUSES
        self.timeout_s = timeout_s
        self.redactor = redactor or Redactor()
        self.http = _Http(jar)
        self.sink: Callable[[LoadExchange], None] | None = None
        self.before_send: Callable[[Any], None] | None = None
        self.extra_headers: Callable[[str], dict[str, str]] | None = None
        self._logging_in = False
        self._pace = pace  # the request-rate cap: waits for this request's turn

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             json: Any = None, data: Any = None, files: Any = None,
             headers: dict[str, str] | None = None, timeout_s: float | None = None,
             name: str | None = None, authenticate: bool = True) -> LoadExchange:
        """Send one request; the exchange always has a response, else EnvironmentProblem."""
        if authenticate and self.before_send is not None and not self._logging_in:
            self._logging_in = True
            try:
                self.before_send(self)
            finally:
                self._logging_in = False
        if files:
            raise OperationError("a load step sends no file uploads")
        url = self.url_for(path)
        sent = dict(self.http.headers)
        if self.extra_headers is not None:
            sent.update(self.extra_headers(method))
        if headers:
            sent.update(headers)
        if self.http.auth is not None:
            user, password = self.http.auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            sent["Authorization"] = f"Basic {token}"
        query = {**(self.http.params or {}), **(params or {})} or None
        payload: bytes | None = None
        if json is not None:
            payload = jsonlib.dumps(json).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        elif isinstance(data, dict):
            payload = urlencode(data, doseq=True).encode("utf-8")
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(data, str | bytes):
            payload = data.encode("utf-8") if isinstance(data, str) else data
        if self._pace is not None:
            self._pace()
        start = time.perf_counter()
        try:
            raw = self.agent.urlopen(url, method=method, headers=sent, payload=payload,
                                     params=query)
            content = raw.content
            response = LoadResponse(raw.status_code, content or b"",
                                    dict(raw.headers.items()) if raw.headers else {}, url)
        except Exception as exc:  # geventhttpclient's connection, timeout and parse errors
            elapsed = (time.perf_counter() - start) * 1000
            problem = _reason(exc)
            self._hand(LoadExchange(method, url, None, elapsed, self._logging_in, problem,
                                    name or method))
            raise EnvironmentProblem(f"{problem}: {method} {urlsplit(url).path}") from None
        exchange = LoadExchange(method, url, response, (time.perf_counter() - start) * 1000,
                                self._logging_in, None, name or method)
        self._hand(exchange)
        return exchange

    def request(self, method: str, path: str, **kwargs: Any) -> LoadResponse:
        """Like `send`, returning the response (an adapter's `http.request`)."""
        response = self.send(method, path, **kwargs).response
        assert response is not None
        return response

    def _hand(self, exchange: LoadExchange) -> None:
        if self.sink is not None:
            self.sink(exchange)

    def close(self) -> None:
        return None


def _reason(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    lowered = text.lower()
    for marker, reason in (("refused", "connection refused"), ("timed out", "timed out"),
                           ("timeout", "timed out"), ("reset", "connection reset"),
                           ("closed", "connection closed")):
        if marker in lowered:
            return reason
    return text[:120]
