"""Start the real sandbox server in a subprocess for tests: `running_sandbox(...)`.

The server is the same `python -m crmqa.sandbox` a person runs, on a free loopback port, so
tests exercise real HTTP, real SQLite and real HTML.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmqa.sandbox.config import PASSWORD_ENV, password_from_env
from crmqa.sandbox.faults import parse_fault_list

START_TIMEOUT_SECONDS = 20.0
SEEDED_USERS: tuple[str, ...] = ("admin", "manager", "sales", "sales2", "viewer")


class SandboxStartError(RuntimeError):
    """The sandbox did not answer /api/health in time; carries the server's stderr."""


@dataclass(frozen=True)
class SandboxHandle:
    """A running sandbox: where it is and how to log in."""

    base_url: str
    password: str = field(repr=False)
    faults: tuple[str, ...] = ()
    seed: int = 1
    db_path: Path | None = None
    pid: int = 0
    users: tuple[str, ...] = field(default=SEEDED_USERS)

    @property
    def host(self) -> str:
        return self.base_url.split("//", 1)[1].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health_ok(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/api/health", timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextlib.contextmanager
def running_sandbox(
    *,
    faults: Sequence[str] = (),
    seed: int = 1,
    password: str | None = None,
    db_path: Path | None = None,
    start_timeout: float = START_TIMEOUT_SECONDS,
    latency_ms: int = 0,
) -> Iterator[SandboxHandle]:
    """Start the sandbox on a free 127.0.0.1 port, wait for /api/health, yield, then stop it.

    Unknown fault names raise `ValueError` before anything starts. If the server does not answer
    within `start_timeout` seconds, `SandboxStartError` carries its stderr. The password travels
    by environment, never on the command line (where `ps` would show it).
    """
    fault_names = parse_fault_list(list(faults))
    secret = password or password_from_env()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "crmqa.sandbox", "--host", "127.0.0.1",
               "--port", str(port), "--seed", str(seed)]
    if fault_names:
        command += ["--faults", ",".join(fault_names)]
    if db_path is not None:
        command += ["--db", str(db_path)]
    if latency_ms:
        command += ["--latency-ms", str(latency_ms)]
    env = dict(os.environ)
    env[PASSWORD_ENV] = secret
    env.setdefault("PYTHONUNBUFFERED", "1")
    # stderr goes to a file, not a pipe: a chatty server must never block on a full pipe.
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr_file, env=env
        )
        try:
            deadline = time.monotonic() + start_timeout
            while not _health_ok(base_url):
                if process.poll() is not None or time.monotonic() > deadline:
                    _stop(process)
                    stderr_file.seek(0)
                    stderr = stderr_file.read().decode("utf-8", "replace").strip()
                    why = (f"exited with code {process.returncode}"
                           if process.returncode not in (None, -15) else
                           f"did not answer {base_url}/api/health within {start_timeout:.0f} s")
                    raise SandboxStartError(
                        f"sandbox {why}; command: {' '.join(command)}\n"
                        f"server stderr:\n{stderr or '(empty)'}"
                    )
                time.sleep(0.05)
            yield SandboxHandle(
                base_url=base_url,
                password=secret,
                faults=fault_names,
                seed=seed,
                db_path=db_path,
                pid=process.pid,
            )
        finally:
            _stop(process)


class SandboxClient:
    """A small HTTP client for tests: requests against the sandbox's base URL, with a token.

    `SandboxClient(handle, "sales").get("/api/leads")`; `username=None` sends no token.
    """

    def __init__(self, handle: SandboxHandle, username: str | None = "admin",
                 password: str | None = None, timeout: float = 10.0) -> None:
        import requests  # imported here so that the server side never needs it

        self.handle = handle
        self.username = username
        self.timeout = timeout
        self.http = requests.Session()
        if username is not None:
            response = self.http.post(
                f"{handle.base_url}/api/auth/token",
                json={"username": username, "password": password or handle.password},
                timeout=timeout,
            )
            if response.status_code != 200:
                raise RuntimeError(f"login as {username} failed: HTTP {response.status_code} "
                                   f"{response.text[:200]}")
            self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: object) -> Any:
        """Send `method path` (path relative to the base URL); returns a requests.Response."""
        kwargs.setdefault("timeout", self.timeout)
        return self.http.request(method, f"{self.handle.base_url}{path}", **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: object) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: object) -> Any:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.http.close()
