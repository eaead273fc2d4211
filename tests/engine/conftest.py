"""Helpers for the API driver and engine tests: tiny real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from crmqa.drivers.api.driver import ApiDriver
from crmqa.drivers.registry import DriverEnvironment
from crmqa.plan.models import Credential, Target
from crmqa.profiles.models import Profile
from crmqa.profiles.target import resolve_target


@dataclass
class Request:
    """One request the tiny server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Reply = tuple[int, dict[str, str], Any]  # status, headers, body (dict/list -> JSON, str, bytes)
Handler = Callable[[Request], Reply]


@dataclass
class TinyServer:
    base_url: str
    requests: list[Request] = field(default_factory=list)


def _handler_class(handler: Handler, server_record: TinyServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(self.command, parts.path, parse_qs(parts.query),
                              {k: v for k, v in self.headers.items()}, body)
            server_record.requests.append(request)
            status, headers, payload = handler(request)
            if isinstance(payload, dict | list):
                data = json.dumps(payload).encode()
                headers = {"Content-Type": "application/json", **headers}
            elif isinstance(payload, str):
                data = payload.encode()
            else:
                data = payload or b""
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    return _Handler


@pytest.fixture
def tiny_server() -> Iterator[Callable[[Handler], TinyServer]]:
    """Start real HTTP servers on free loopback ports; all stop when the test ends."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: Handler) -> TinyServer:
        record = TinyServer(base_url="")
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(handler, record))
        httpd.daemon_threads = True
        record.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        servers.append(httpd)
        return record

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def make_driver(
    profile: dict[str, Any] | Profile,
    base_url: str,
    identities: dict[str, dict[str, str]] | None = None,
    env: dict[str, str] | None = None,
    tmp_path: Path | None = None,
    timeout_s: float = 5,
) -> ApiDriver:
    """An ApiDriver for a profile given as a dict, against `base_url`."""
    model = profile if isinstance(profile, Profile) else Profile.model_validate(profile)
    target = Target(
        profile="inline", base_url=base_url, timeout_s=timeout_s,
        identities={k: Credential(**v) for k, v in (identities or {}).items()},
    )
    resolved = resolve_target("t", target, Path("."), env=env or {}, profile=model)
    folder = tmp_path or Path(".")
    return ApiDriver(DriverEnvironment(target=resolved, worker_id="w", run_dir=folder,
                                       base_dir=folder, evidence="on"))


class FakeContext:
    """A StepContext that records what a driver reports (no engine involved)."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.case_id = "C"
        self.worker_id = "w"
        self.created: list[tuple[str, Any, str]] = []
        self.values: list[dict[str, Any]] = []
        self.kept: list[tuple[str, Callable[[], str]]] = []
        self.evidence = None
        self.target = None

    def track_created(self, entity: str, record_id: Any, identity: str, *,
                      values: dict[str, Any] | None = None) -> None:
        self.created.append((entity, record_id, identity))
        self.values.append(dict(values or {}))

    def keep_evidence(self, name: str, render: Callable[[], str], mime_type: str = "") -> None:
        self.kept.append((name, render))


@pytest.fixture
def driver_factory(tmp_path: Path) -> Iterator[Callable[..., ApiDriver]]:
    """Build API drivers for inline profiles; all are closed when the test ends."""
    drivers: list[ApiDriver] = []

    def make(profile: dict[str, Any] | Profile, base_url: str, **kwargs: Any) -> ApiDriver:
        driver = make_driver(profile, base_url, tmp_path=tmp_path, **kwargs)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.close()


@pytest.fixture
def step_ctx() -> FakeContext:
    return FakeContext()
