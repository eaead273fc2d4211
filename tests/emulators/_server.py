"""The HTTP plumbing the vendor emulators share: a real server on 127.0.0.1 in a thread.

An emulator is a class with `handle(request) -> Reply`; this module turns it into a server
(`EmulatorServer`) and a command line (`serve(...)`), so the emulators themselves hold only
what their vendor's documentation says.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as an emulator sees it."""

    method: str
    path: str  # percent-decoded by nobody: emulators decode what they route on
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    raw_query: str = ""

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode("utf-8")).items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# status, headers, body (dict or list -> JSON, str -> text, None -> empty)
Reply = tuple[int, dict[str, str], Any]


class Emulator(Protocol):
    base_url: str

    def handle(self, request: Request) -> Reply: ...


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the second waits for
        # the client's delayed ACK (about 40 ms a response).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(self.command, parts.path,
                              parse_qs(parts.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, body,
                              parts.query)
            status, headers, payload = emulator.handle(request)
            if isinstance(payload, dict | list):
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                headers = {"Content-Type": "application/json;charset=UTF-8", **headers}
            elif isinstance(payload, str):
                data = payload.encode("utf-8")
            else:
                data = b""
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


class EmulatorServer:
    """An emulator served on 127.0.0.1 (a free port unless one is given) in a thread."""

    def __init__(self, make: Callable[[str], Emulator], port: int = 0) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.emulator = make(self.base_url)
        self._httpd.RequestHandlerClass = _handler_for(self.emulator)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(name: str, make: Callable[[str], Emulator]) -> None:
    """`python -m tests.emulators.<vendor>_emulator [--port N]`: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=f"a local emulator of the {name} API")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = EmulatorServer(make, args.port)
    print(f"{name} emulator on {server.base_url} (Ctrl-C stops it)", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()


def error_id() -> str:
    """A fresh id for error bodies that carry one (correlation ids)."""
    import uuid

    return str(uuid.uuid4())
