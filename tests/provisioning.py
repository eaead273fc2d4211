"""What every real third-party CRM the tests start on loopback needs, whatever the product.

A product installed from PyPI into a venv of its own (it may need another Python than
crmqa's), a database migrated once into a template that each run copies, a free 127.0.0.1
port, a server process in a process group of its own, and a wait until it answers. Stopping
an instance, running one for a block and the `up|down|env|prepare` command line with its
state file are shared too (`Product`). The product modules (tests/bottlecrm/provision.py,
tests/djangocrm/provision.py) say only what is theirs: what to install, how to migrate, how to
start and who may log in.

Everything here is idempotent, safe between pytest-xdist workers (file locks) and prints its
progress; a failure is a `ProvisionError` whose message says what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]

Progress = Callable[[str], None]


class ProvisionError(RuntimeError):
    """Provisioning failed for a reason the user can act on (message says which)."""


# --------------------------------------------------------------------------- interpreter

def _version_key(path: Path) -> list[int]:
    return [int(part) if part.isdigit() else 0 for part in path.name.split(".")]


def find_pyenv_python(minor: str, needed_by: str) -> Path:
    """pyenv's newest Python `minor` (`"3.12"`), or an error naming what is missing.

    `needed_by` names the product in the message (`BottleCRM needs Python >= 3.12`).
    """
    pyenv = shutil.which("pyenv")
    root: str | None = os.environ.get("PYENV_ROOT")
    if pyenv:
        result = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            root = result.stdout.strip()
    if root is None and Path.home().joinpath(".pyenv").is_dir():
        root = str(Path.home() / ".pyenv")
    if root is None:
        raise ProvisionError(
            "pyenv was not found (no `pyenv` on PATH, no PYENV_ROOT, no ~/.pyenv). "
            f"{needed_by} needs Python >= {minor}; install pyenv with a {minor} version."
        )
    versions = sorted(Path(root, "versions").glob(f"{minor}.*"), key=_version_key)
    for version in reversed(versions):
        python = version / "bin" / f"python{minor}"
        if python.exists():
            return python
    found = ", ".join(p.name for p in Path(root, "versions").glob("*")) or "nothing"
    raise ProvisionError(
        f"no Python {minor} under {root}/versions (found: {found}). "
        f"{needed_by} needs Python >= {minor}: `pyenv install {minor}`."
    )


# --------------------------------------------------------------------------- commands

def run_command(command: Sequence[str], what: str, **kwargs: object
                ) -> subprocess.CompletedProcess[str]:
    """Run `command`; on a non-zero exit raise a ProvisionError with the output's tail."""
    result = subprocess.run(list(command), capture_output=True, text=True, check=False,
                            **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise ProvisionError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- venv

VENV_STAMP = ".crmqa-requirements"


def requirements_key(requirements: Sequence[str]) -> str:
    """A short hash of what a venv holds: a change in any requirement makes a new venv."""
    text = "\n".join(sorted(requirements))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def venv_python(venv_dir: Path) -> Path:
    """The interpreter of the venv at `venv_dir`."""
    return venv_dir / "bin" / "python"


def ensure_venv(venv_dir: Path, python: Callable[[], Path], requirements: Sequence[str],
                install: Callable[[Path], None], probe: Callable[[Path], bool],
                progress: Progress) -> float:
    """A venv at `venv_dir` holding `requirements`, built by `install(python)` when needed.

    The venv is reused when its stamp holds the requirements' hash and `probe(python)` says
    the product imports; otherwise it is rebuilt from `python()` (the interpreter is looked up
    only then). Returns the seconds spent (0 when reused).
    """
    key = requirements_key(requirements)
    stamp = venv_dir / VENV_STAMP
    target = venv_python(venv_dir)
    if stamp.exists() and stamp.read_text().strip() == key and probe(target):
        progress(f"venv: present ({key}), skipping install")
        return 0.0
    started = time.monotonic()
    interpreter = python()
    if venv_dir.exists():
        progress(f"venv: {venv_dir} is missing, stale or broken; recreating it")
        shutil.rmtree(venv_dir)
    progress(f"venv: creating with {interpreter}")
    run_command([str(interpreter), "-m", "venv", str(venv_dir)], "creating the venv")
    install(target)
    if not probe(target):
        raise ProvisionError(f"the install into {venv_dir} finished, but the product does "
                             "not import there")
    stamp.write_text(key)
    elapsed = time.monotonic() - started
    progress(f"venv: installed in {elapsed:.0f} s")
    return elapsed


def pip_install(python: Path, arguments: Sequence[str], what: str) -> None:
    """`python -m pip install --quiet ARGUMENTS`, raising a ProvisionError on failure."""
    run_command([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 *arguments], what)


# --------------------------------------------------------------------------- template

def ensure_template(template: Path, build: Callable[[Path], None], progress: Progress) -> float:
    """Build the template database once with `build(path)`; later calls reuse it.

    A lock keeps two processes from building at once; the database is built under a
    temporary name and renamed, so a half-built template is never copied. Returns the
    seconds spent (0 when reused).
    """
    with file_lock(template.with_name(template.name + ".lock")):
        if template.exists():
            progress(f"template: {template.name} present, skipping migrate")
            return 0.0
        started = time.monotonic()
        building = template.with_name(template.name + ".building")
        building.unlink(missing_ok=True)
        build(building)
        building.rename(template)
        elapsed = time.monotonic() - started
        progress(f"template: built in {elapsed:.0f} s")
        return elapsed


# --------------------------------------------------------------------------- runs

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_run_dir(cache_dir: Path) -> Path:
    """A fresh folder for one run (database copy, media, logs)."""
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
    run_dir = cache_dir / "runs" / name
    (run_dir / "media").mkdir(parents=True)
    return run_dir


def alive(pid: int) -> bool:
    """True while the process group led by `pid` (a server started here) exists."""
    if pid <= 0:
        return False
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def prune_stale_runs(cache_dir: Path, progress: Progress) -> None:
    """Delete run folders left behind when their process was killed.

    A run folder is stale when the server it records (`server.pid`) no longer runs; folders
    without a pid file are left alone unless they are a day old (a run still starting).
    """
    runs = cache_dir / "runs"
    if not runs.is_dir():
        return
    for run_dir in runs.iterdir():
        pid_file = run_dir / "server.pid"
        try:
            if pid_file.exists():
                stale = not alive(int(pid_file.read_text().strip() or 0))
            else:
                stale = time.time() - run_dir.stat().st_mtime > 86_400
        except (OSError, ValueError):
            continue
        if stale:
            shutil.rmtree(run_dir, ignore_errors=True)
            progress(f"run: removed stale {run_dir.name}")


# --------------------------------------------------------------------------- server

# Servers started by this process, so that stopping one also reaps it (no zombie, no
# "subprocess is still running" warning). A server started by an earlier `up` is stopped by
# its pid alone.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def start_server(command: Sequence[str], run_dir: Path, env: dict[str, str]
                 ) -> subprocess.Popen[bytes]:
    """Start a server in its own process group, logging to `run_dir/server.out`.

    Its pid is written to `run_dir/server.pid` (what `prune_stale_runs` reads).
    """
    log = (run_dir / "server.out").open("wb")
    process = subprocess.Popen(
        list(command), cwd=str(run_dir), env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop_process() ends its children too
    )
    log.close()  # the child holds its own copy
    _STARTED[process.pid] = process
    (run_dir / "server.pid").write_text(str(process.pid))
    return process


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a server log, or a note that there is none."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def wait_until_up(url: str, process: subprocess.Popen[bytes], run_dir: Path, product: str,
                  timeout_s: float = 90.0) -> None:
    """Poll `url` until it answers 200; fail early when the server process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProvisionError(
                f"{product} exited with code {process.returncode} while starting:\n"
                + log_tail(run_dir / "server.out")
            )
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise ProvisionError(
        f"{product} did not answer {url} within {timeout_s:.0f} s:\n"
        + log_tail(run_dir / "server.out")
    )


def stop_process(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM the server's process group, SIGKILL it if it has not gone in time."""
    process = _STARTED.pop(pid, None)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)


def remove_run_dir(run_dir: Path) -> None:
    """Delete a run folder made by `new_run_dir` (never anything else)."""
    if run_dir.parent.name == "runs":
        shutil.rmtree(run_dir, ignore_errors=True)


def clean_env(drop: tuple[str, ...] = ("PYTHON", "VIRTUAL_ENV", "DJANGO_")) -> dict[str, str]:
    """This process's environment without what would leak crmqa's Python into the product's."""
    return {key: value for key, value in os.environ.items() if not key.startswith(drop)}


# --------------------------------------------------------------------------- lifecycle

def progress_printer(name: str) -> Progress:
    """Progress lines on stderr, prefixed with the product's name (`[bottlecrm] ...`)."""

    def show(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    return show


@dataclass
class Timings:
    """Seconds spent per step; `cold` = install + migrate, `warm` = copy + start.

    A product adds its own steps in a subclass (BottleCRM's identities).
    """

    install_s: float = 0.0
    migrate_s: float = 0.0
    copy_s: float = 0.0
    start_s: float = 0.0

    @property
    def cold_s(self) -> float:
        return self.install_s + self.migrate_s

    @property
    def warm_s(self) -> float:
        return self.copy_s + self.start_s


class Instance(Protocol):
    """A running product as its module describes it (a dataclass)."""

    base_url: str
    run_dir: str
    pid: int

    def env(self) -> dict[str, str]: ...


InstanceT = TypeVar("InstanceT", bound=Instance)


def stop_instance(instance: Instance, *, keep_run_dir: bool, progress: Progress) -> None:
    """Stop the server and delete the run folder provisioning created for it."""
    stop_process(instance.pid)
    progress(f"server: stopped (pid {instance.pid})")
    if not keep_run_dir:
        remove_run_dir(Path(instance.run_dir))


@dataclass(frozen=True)
class Product(Generic[InstanceT]):
    """What the shared lifecycle needs from a product module.

    `prepare(cache_dir, progress)` installs and builds the template once; `start(cache_dir,
    progress)` gives a running instance; `instance_type` is its dataclass, whose `timings`
    field is a `Timings` (sub)class. `migrate_word` names the template step in messages
    ("migrate", "setupdata").
    """

    name: str  # progress prefix: "bottlecrm"
    title: str  # for people: "BottleCRM"
    cache_dir: Path
    prepare: Callable[[Path, Progress], Timings]
    start: Callable[[Path, Progress], InstanceT]
    instance_type: type[InstanceT]
    timings_type: type[Timings]
    script: Path
    migrate_word: str = "migrate"

    @property
    def progress(self) -> Progress:
        return progress_printer(self.name)

    @contextlib.contextmanager
    def running(self, cache_dir: Path, *, keep_run_dir: bool = False,
                progress: Progress | None = None) -> Iterator[InstanceT]:
        """A fresh instance for the duration of the block (its own copy of the database)."""
        shown = progress or self.progress
        instance = self.start(cache_dir, shown)
        try:
            yield instance
        finally:
            stop_instance(instance, keep_run_dir=keep_run_dir, progress=shown)

    # -- the command line and its state file (the instance `up` started) --

    def state_file(self, cache_dir: Path) -> Path:
        return cache_dir / "up.json"

    def load_state(self, cache_dir: Path) -> InstanceT | None:
        """The instance `up` recorded, or None."""
        path = self.state_file(cache_dir)
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        data["timings"] = self.timings_type(**data.get("timings", {}))
        return self.instance_type(**data)

    def save_state(self, cache_dir: Path, instance: InstanceT) -> None:
        assert is_dataclass(instance) and not isinstance(instance, type)
        path = self.state_file(cache_dir)
        path.write_text(json.dumps(asdict(instance)))
        path.chmod(0o600)  # holds the instance's secrets

    def up_summary(self, instance: InstanceT) -> str:
        """What `up` prints: where, and the time of each step."""
        timings: Timings = getattr(instance, "timings", self.timings_type())
        extra = [f"{field.name.removesuffix('_s')} {getattr(timings, field.name):.1f} s"
                 for field in fields(timings) if field.name not in {
                     f.name for f in fields(Timings)}]
        return (f"up at {instance.base_url}; cold {timings.cold_s:.0f} s "
                f"(install {timings.install_s:.0f} + {self.migrate_word} "
                f"{timings.migrate_s:.0f}), warm {timings.warm_s:.1f} s (copy "
                f"{timings.copy_s:.2f} + start {timings.start_s:.1f})"
                + "".join(f", {part}" for part in extra) + ". "
                f"Run `eval \"$(python {self.script.relative_to(REPO_ROOT)} env)\"`.")

    def main(self, argv: list[str] | None = None) -> int:
        """`up` starts a background instance, `env` prints its variables, `down` stops it;
        `prepare` only installs and builds the template (setup scripts warm the cache)."""
        args = sys.argv[1:] if argv is None else argv
        if len(args) != 1 or args[0] not in ("up", "down", "env", "prepare"):
            print("usage: provision.py up|down|env|prepare\n"
                  f"  up       install if needed, start {self.title} in the background\n"
                  "  env      print `export NAME=value` lines for the running instance\n"
                  "  down     stop it\n"
                  "  prepare  install and build the template database only",
                  file=sys.stderr)
            return 2
        cache_dir, progress = self.cache_dir, self.progress
        state = self.load_state(cache_dir)
        try:
            if args[0] == "prepare":
                timings = self.prepare(cache_dir, progress)
                progress(f"prepared: install {timings.install_s:.0f} s, "
                         f"{self.migrate_word} {timings.migrate_s:.0f} s")
                return 0
            if args[0] == "up":
                if state and alive(state.pid):
                    progress(f"already up at {state.base_url}")
                    return 0
                instance = self.start(cache_dir, progress)
                self.save_state(cache_dir, instance)
                progress(self.up_summary(instance))
                return 0
            if state is None:
                progress(f"not up (no {self.state_file(cache_dir)})")
                return 1
            if args[0] == "env":
                for name, value in state.env().items():
                    print(f"export {name}={value}")
                return 0
            stop_instance(state, keep_run_dir=False, progress=progress)
            self.state_file(cache_dir).unlink(missing_ok=True)
            return 0
        except ProvisionError as exc:
            print(f"{self.name}: {exc}", file=sys.stderr)
            return 1
