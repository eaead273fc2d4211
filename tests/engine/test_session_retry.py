"""A CRM that closes a kept-alive connection as it is reused, through a real socket server.

The server answers the first request of every connection (keeping it alive) and closes the
connection without answering when a second request arrives on it, as a server whose idle
timeout fired at that moment does. An idempotent request is sent once more on a new
connection; a POST is never repeated.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.redaction import Redactor
from crmqa.drivers.api.session import ApiSession


@dataclass
class ClosingServer:
    base_url: str
    received: list[str] = field(default_factory=list)  # "METHOD path", in order
    answers_first: bool = True  # False: every request is dropped


def _read_request(conn: socket.socket) -> str | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines
                   if line.lower().startswith("content-length:")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    method, path, _ = lines[0].split(" ", 2)
    return f"{method} {path}"


def _serve(listener: socket.socket, record: ClosingServer) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            first = _read_request(conn)
            if first is None:
                continue
            record.received.append(first)
            if not record.answers_first:
                continue
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}")
            second = _read_request(conn)
            if second is not None:
                record.received.append(second)
            # Closed without an answer to the second request.


@pytest.fixture
def closing_server() -> Iterator[ClosingServer]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    record = ClosingServer(base_url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    thread = threading.Thread(target=_serve, args=(listener, record), daemon=True)
    thread.start()
    yield record
    listener.close()


def _session(server: ClosingServer) -> ApiSession:
    return ApiSession(server.base_url, "admin", Redactor(), timeout_s=5)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_idempotent_request_is_sent_again_on_a_new_connection(closing_server, method):
    session = _session(closing_server)
    assert session.send("GET", "/warm").status == 200
    assert session.send(method, "/api/leads/7", json={"a": 1}).status == 200
    assert closing_server.received == ["GET /warm", f"{method} /api/leads/7",
                                       f"{method} /api/leads/7"]
    session.close()


def test_a_post_is_never_sent_twice(closing_server):
    session = _session(closing_server)
    session.send("GET", "/warm")
    with pytest.raises(EnvironmentProblem, match="remote end closed connection"):
        session.send("POST", "/api/leads", json={"name": "Ada"})
    assert closing_server.received == ["GET /warm", "POST /api/leads"]
    session.close()


def test_a_crm_that_keeps_dropping_requests_is_an_environment_problem(closing_server):
    """One more try only: a CRM that drops every request is not hidden behind retries."""
    closing_server.answers_first = False
    session = _session(closing_server)
    with pytest.raises(EnvironmentProblem, match="remote end closed connection"):
        session.send("GET", "/api/leads")
    assert closing_server.received == ["GET /api/leads", "GET /api/leads"]
    session.close()
