"""Locust in child processes: one process, or a master and workers (Locust's distributed mode).

`import locust` patches the whole process with gevent, so crmqa never imports it: Locust runs
as `python -m locust` in processes of its own session, so that a Ctrl-C reaches crmqa alone,
which then stops them in order. It asks first, through a `stop.request` file the leading
process watches (Locust's headless shape run ignores SIGTERM until it ends): the users finish
the task they are in, Locust writes its reports, the workers follow their master. A process
that does not listen gets SIGINT, then SIGKILL. Output goes to log files in the load folder,
never to a pipe that could fill up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from crmqa.load.locustfile import LoadSetting

STOP_GRACE_S = 20.0
#: The file the leading Locust process watches: crmqa asks it to stop the load.
STOP_REQUEST = "stop.request"
#: How long the master waits for its workers to connect before it gives up.
WORKERS_WAIT_S = 60
#: How long a virtual user may take to finish its current task when the load stops.
USER_STOP_S = 10.0


def locust_command(locustfile: Path, out_dir: Path, role: str, setting: LoadSetting) -> list[str]:
    """The command line of one Locust process: `single`, `master` or `worker`."""
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
               "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    if role == "worker":
        host = "127.0.0.1" if setting.bind_host in ("0.0.0.0", "::", "") else setting.bind_host
        return [*command, "--worker", "--master-host", host,
                "--master-port", str(setting.bind_port)]
    # Users finish the task they are in before they stop, so that no record is created
    # behind the journal's back by a request cut off mid-flight.
    command += ["--stop-timeout", f"{USER_STOP_S:g}"]
    command += ["--only-summary", "--csv", str(out_dir / "locust"),
                "--json-file", str(out_dir / "locust"), "--html", str(out_dir / "locust.html")]
    if role == "master":
        command += ["--master", "--expect-workers", str(setting.workers + setting.external_workers),
                    "--expect-workers-max-wait", f"{WORKERS_WAIT_S:g}",
                    "--master-bind-host", setting.bind_host,
                    "--master-bind-port", str(setting.bind_port)]
    return command


def worker_command(master_host: str, master_port: int) -> list[str]:
    """A worker on another machine: it fetches the locustfile from the master (`-f -`)."""
    return [sys.executable, "-m", "locust", "--worker", "-f", "-", "--headless",
            "--master-host", master_host, "--master-port", str(master_port),
            "--loglevel", "WARNING"]


@dataclass
class LocustProcesses:
    """The Locust processes of one load; stopped together, logs kept in the load folder."""

    out_dir: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start(self, locustfile: Path, setting: LoadSetting,
              env: dict[str, str] | None = None) -> None:
        """Start the leading process (single or master) and the local workers."""
        environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        lead = "master" if setting.distributed else "single"
        self._spawn(lead, locust_command(locustfile, self.out_dir, lead, setting), environment)
        for number in range(setting.workers):
            self._spawn(f"worker-{number + 1}",
                        locust_command(locustfile, self.out_dir, "worker", setting), environment)

    def _spawn(self, role: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.out_dir / f"locust-{role}.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(
            command, cwd=self.out_dir, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append((role, process))

    @property
    def lead(self) -> subprocess.Popen[bytes]:
        return self.processes[0][1]

    def lead_done(self) -> bool:
        return self.lead.poll() is not None

    def stop(self, reason: str = "stopped by crmqa") -> None:
        """Stop every process: ask the leading one (users finish their task, files are
        written), then SIGINT, then SIGKILL for whatever is still there."""
        if not self.processes:
            return
        try:
            if self.lead.poll() is None:
                (self.out_dir / STOP_REQUEST).write_text(reason, encoding="utf-8")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.lead.wait(timeout=STOP_GRACE_S)
            self._signal_the_rest()
        except BaseException:
            # A second Ctrl-C while waiting: no load may outlive crmqa.
            for _, process in self.processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            raise

    def _signal_the_rest(self) -> None:
        for signum, grace in ((signal.SIGINT, 5.0), (signal.SIGKILL, 5.0)):
            alive = [process for _, process in self.processes if process.poll() is None]
            if not alive:
                return
            for process in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signum)
            deadline = time.monotonic() + grace
            for process in alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))

    def wait_workers(self, timeout_s: float = STOP_GRACE_S) -> None:
        """After the master ended: give the local workers time to quit, then stop them."""
        deadline = time.monotonic() + timeout_s
        for _, process in self.processes[1:]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        self.stop()

    def close(self) -> None:
        for log in self._logs:
            log.close()
        self._logs.clear()

    def log_tail(self, role: str | None = None, lines: int = 15) -> str:
        """The end of a process's log (the leading one's by default), for error messages."""
        role = role or self.processes[0][0]
        path = self.out_dir / f"locust-{role}.log"
        if not path.exists():
            return ""
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])
