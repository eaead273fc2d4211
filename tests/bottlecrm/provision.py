"""Provision BottleCRM (PyPI `django-crm` 1.35.x) as a real third-party target on loopback.

Steps, each idempotent and each printing progress:

1. venv: `.cache/bottlecrm/venv` from pyenv's Python 3.12 (BottleCRM needs >= 3.12; under
   3.11 pip quietly installs an unrelated 2019 package of the same name), then
   `pip install 'django-crm==1.35.*'`. Skipped when the venv already has django-crm 1.35
   importable.
2. settings: a small module importing `crm.settings` with SQLite, eager in-memory Celery,
   loopback ALLOWED_HOSTS and a SECRET_KEY generated once per cache (32+ bytes, because it
   signs JWTs).
3. template: `migrate` once into `.cache/bottlecrm/template-<version>.sqlite3` (minutes on 2
   cores), then every run copies it.
4. server: gunicorn from the venv on a free 127.0.0.1 port, in a per-run folder.
5. identities: an org, an ADMIN and a USER, each with a personal access token
   (`bcrm_pat_...`, never expires) scoped to the CRM entities.

Use `running_bottlecrm()` from Python, or the command line:
`python tests/bottlecrm/provision.py up|down|env|prepare`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
# The venv and the migrated template take minutes to build; CI machines that keep a cache
# outside the work tree can point this elsewhere.
DEFAULT_CACHE_DIR = Path(
    os.environ.get("CRMQA_BOTTLECRM_CACHE") or REPO_ROOT / ".cache" / "bottlecrm"
)
PACKAGE_SPEC = "django-crm==1.35.*"
HELPER_SCRIPT = Path(__file__).with_name("venv_helper.py")
SETTINGS_MODULE = "bottlecrm_local"

# What a personal access token may touch. `write` does not imply `read` in BottleCRM
# (common/scopes.py), so both are listed. Credential paths (tokens, API key) stay
# unreachable for a PAT whatever its scopes.
TOKEN_SCOPES = [
    f"{resource}:{action}"
    for resource in (
        "leads", "contacts", "accounts", "opportunities", "cases", "users", "teams", "tags",
        "schema",
    )
    for action in ("read", "write")
]

SETTINGS_SOURCE = '''"""BottleCRM settings for crmqa's tests, written by provision.py."""

import os

from crm.settings import *  # noqa: F401, F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BOTTLECRM_DB_PATH"],
        # Several gunicorn threads share one SQLite file: wait for a lock, do not fail.
        "OPTIONS": {"timeout": 30},
    }
}
# No Redis here: Celery runs tasks in the calling process, with an in-memory broker.
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = [os.environ.get("BOTTLECRM_ORIGIN", "http://127.0.0.1")]
MEDIA_ROOT = os.environ.get("BOTTLECRM_MEDIA_ROOT", MEDIA_ROOT)  # noqa: F405
# The Django admin's CSS/JS straight from the installed apps: no collectstatic step.
WHITENOISE_USE_FINDERS = True
# Mail goes nowhere: nothing may leave this machine.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
'''


class ProvisionError(RuntimeError):
    """Provisioning failed for a reason the user can act on (message says which)."""


Progress = Callable[[str], None]


def _print_progress(message: str) -> None:
    print(f"[bottlecrm] {message}", file=sys.stderr, flush=True)


@dataclass
class Timings:
    """Seconds spent per step; `cold` = install + migrate, `warm` = copy + start."""

    install_s: float = 0.0
    migrate_s: float = 0.0
    copy_s: float = 0.0
    start_s: float = 0.0
    identities_s: float = 0.0

    @property
    def cold_s(self) -> float:
        return self.install_s + self.migrate_s

    @property
    def warm_s(self) -> float:
        return self.copy_s + self.start_s


@dataclass
class BottleCrm:
    """A running BottleCRM: where it is and who may use it.

    Tokens are personal access tokens (`Authorization: Bearer bcrm_pat_...`); the admin's
    password is for the Django admin UI at /admin/ only (Django superuser).
    """

    base_url: str
    org_id: str
    admin_email: str
    admin_token: str
    admin_password: str
    user_email: str
    user_token: str
    run_dir: str
    pid: int
    timings: Timings = field(default_factory=Timings)

    def env(self) -> dict[str, str]:
        """Environment variables a crmqa target for BottleCRM reads."""
        return {
            "BOTTLECRM_BASE_URL": self.base_url,
            "BOTTLECRM_ORG_ID": self.org_id,
            "BOTTLECRM_ADMIN_EMAIL": self.admin_email,
            "BOTTLECRM_ADMIN_TOKEN": self.admin_token,
            "BOTTLECRM_ADMIN_PASSWORD": self.admin_password,
            "BOTTLECRM_USER_EMAIL": self.user_email,
            "BOTTLECRM_USER_TOKEN": self.user_token,
        }

    def headers(self, who: str = "admin") -> dict[str, str]:
        """Authorization header for `admin` or `user`."""
        token = self.admin_token if who == "admin" else self.user_token
        return {"Authorization": f"Bearer {token}"}

    def __repr__(self) -> str:  # never print tokens or passwords
        return f"BottleCrm(base_url={self.base_url!r}, org_id={self.org_id!r}, pid={self.pid})"


# --------------------------------------------------------------------------- step 1: venv

def find_python312() -> Path:
    """pyenv's Python 3.12 interpreter, or a clear error saying what is missing."""
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
            "BottleCRM needs Python >= 3.12; install pyenv with a 3.12 version."
        )
    versions = sorted(
        Path(root, "versions").glob("3.12.*"),
        key=lambda p: [int(part) if part.isdigit() else 0 for part in p.name.split(".")],
    )
    for version in reversed(versions):
        python = version / "bin" / "python3.12"
        if python.exists():
            return python
    raise ProvisionError(
        f"no Python 3.12 under {root}/versions (found: "
        f"{', '.join(p.name for p in Path(root, 'versions').glob('*')) or 'nothing'}). "
        "BottleCRM needs Python >= 3.12: `pyenv install 3.12`."
    )


def venv_python(cache_dir: Path) -> Path:
    return cache_dir / "venv" / "bin" / "python"


_VERSION_PROBE = (
    "import crm, gunicorn, django; from importlib.metadata import version; "
    "print(version('django-crm'))"
)


def installed_version(cache_dir: Path) -> str | None:
    """The django-crm version importable in the venv, or None when there is none."""
    python = venv_python(cache_dir)
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", _VERSION_PROBE], capture_output=True, text=True, check=False
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def _venv_ready(cache_dir: Path) -> bool:
    # The version matters: a same-named unrelated package once installed under Python 3.11.
    return (installed_version(cache_dir) or "").startswith("1.35.")


def ensure_venv(cache_dir: Path, progress: Progress = _print_progress) -> float:
    """Create the venv and install BottleCRM unless it is already importable.

    Returns the seconds spent (0 when skipped).
    """
    if _venv_ready(cache_dir):
        progress("venv: present and importable, skipping install")
        return 0.0
    started = time.monotonic()
    python312 = find_python312()
    venv_dir = cache_dir / "venv"
    if venv_dir.exists():
        progress(f"venv: {venv_dir} is broken, recreating it")
        shutil.rmtree(venv_dir)
    progress(f"venv: creating with {python312}")
    _run([str(python312), "-m", "venv", str(venv_dir)], "creating the venv")
    progress(f"venv: pip install '{PACKAGE_SPEC}' (about 95 s)")
    _run(
        [str(venv_python(cache_dir)), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", PACKAGE_SPEC],
        "installing django-crm",
    )
    if not _venv_ready(cache_dir):
        raise ProvisionError(
            f"pip installed django-crm but the venv has {installed_version(cache_dir)!r}, "
            "not an importable 1.35.x"
        )
    elapsed = time.monotonic() - started
    progress(f"venv: installed in {elapsed:.0f} s")
    return elapsed


def _run(command: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise ProvisionError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result


# --------------------------------------------------------------------------- step 2: settings

def ensure_settings(cache_dir: Path, progress: Progress = _print_progress) -> Path:
    """Write the settings module and the per-cache secret key; return the settings dir."""
    settings_dir = cache_dir / "settings"
    settings_dir.mkdir(parents=True, exist_ok=True)
    module = settings_dir / f"{SETTINGS_MODULE}.py"
    if not module.exists() or module.read_text() != SETTINGS_SOURCE:
        module.write_text(SETTINGS_SOURCE)
        progress(f"settings: wrote {module}")
    key_file = cache_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
        progress("settings: generated a SECRET_KEY for this cache")
    return settings_dir


def django_env(cache_dir: Path, db_path: Path, *, debug: bool, extra: dict[str, str] | None = None
               ) -> dict[str, str]:
    """Environment for any Django process of this BottleCRM."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        PYTHONPATH=str(cache_dir / "settings"),
        SECRET_KEY=(cache_dir / "secret_key").read_text().strip(),
        DEBUG="true" if debug else "false",
        ENV_TYPE="dev",
        BOTTLECRM_DB_PATH=str(db_path),
    )
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- step 3: template

def template_path(cache_dir: Path) -> Path:
    """The migrated database for the installed version (a new version migrates again)."""
    return cache_dir / f"template-{installed_version(cache_dir) or 'unknown'}.sqlite3"


def ensure_template(cache_dir: Path, progress: Progress = _print_progress) -> float:
    """Migrate a fresh SQLite database once and keep it as the template.

    A lock file keeps two processes (pytest-xdist workers) from migrating at once; the
    database is built under a temporary name and renamed, so a half-built template is
    never copied. Returns the seconds spent (0 when skipped).
    """
    template = template_path(cache_dir)
    with _file_lock(cache_dir / "template.lock"):
        if template.exists():
            progress("template: present, skipping migrate")
            return 0.0
        started = time.monotonic()
        building = template.with_suffix(".building")
        building.unlink(missing_ok=True)
        work_dir = cache_dir / "migrate-work"
        work_dir.mkdir(exist_ok=True)
        progress("template: running migrate on SQLite (about 4 minutes on 2 cores)")
        _run(
            [str(venv_python(cache_dir)), "-m", "django", "migrate", "--noinput"],
            "migrate",
            env=django_env(cache_dir, building, debug=False),
            cwd=str(work_dir),  # BottleCRM writes server.log and security_audit.log to cwd
        )
        building.rename(template)
        elapsed = time.monotonic() - started
        progress(f"template: migrated in {elapsed:.0f} s")
        return elapsed


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- step 4: server

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_run_dir(cache_dir: Path) -> Path:
    """A fresh folder for one run (database copy, media, logs)."""
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
    run_dir = cache_dir / "runs" / name
    (run_dir / "media").mkdir(parents=True)
    return run_dir


def prune_stale_runs(cache_dir: Path, progress: Progress = _print_progress) -> None:
    """Delete run folders this module left behind when its process was killed.

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
                stale = not _alive(int(pid_file.read_text().strip() or 0))
            else:
                stale = time.time() - run_dir.stat().st_mtime > 86_400
        except (OSError, ValueError):
            continue
        if stale:
            shutil.rmtree(run_dir, ignore_errors=True)
            progress(f"run: removed stale {run_dir.name}")


def start_server(cache_dir: Path, run_dir: Path, port: int, progress: Progress = _print_progress
                 ) -> subprocess.Popen[bytes]:
    """Start gunicorn (one worker, four threads: SQLite prefers one writer process)."""
    base_url = f"http://127.0.0.1:{port}"
    env = django_env(
        cache_dir, run_dir / "db.sqlite3", debug=False,
        extra={"BOTTLECRM_MEDIA_ROOT": str(run_dir / "media"), "BOTTLECRM_ORIGIN": base_url},
    )
    log = (run_dir / "server.out").open("wb")
    command = [
        str(venv_python(cache_dir)), "-m", "gunicorn", "crm.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
        "--timeout", "120", "--access-logfile", "-",
    ]
    progress(f"server: starting gunicorn on {base_url}")
    return subprocess.Popen(
        command, cwd=str(run_dir), env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop() ends gunicorn's worker too
    )


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], run_dir: Path,
                  timeout_s: float = 90.0) -> None:
    """Poll /healthz/ until it answers 200; fail early when the server process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProvisionError(
                f"BottleCRM exited with code {process.returncode} while starting:\n"
                + _log_tail(run_dir / "server.out")
            )
        try:
            if requests.get(f"{base_url}/healthz/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise ProvisionError(
        f"BottleCRM did not answer {base_url}/healthz/ within {timeout_s:.0f} s:\n"
        + _log_tail(run_dir / "server.out")
    )


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


# Servers started by this process, so that stopping one also reaps it (no zombie, no
# "subprocess is still running" warning). A server started by an earlier `up` is stopped by
# its pid alone.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


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


# --------------------------------------------------------------------------- step 5: identities

def mint_jwts(cache_dir: Path, db_path: Path, admin_email: str, user_email: str,
              admin_password: str) -> dict[str, str]:
    """Run the product's `devlogin` (DEBUG only) for both users: JWTs with no org yet."""
    result = _run(
        [str(venv_python(cache_dir)), str(HELPER_SCRIPT), admin_email, user_email],
        "minting JWTs with devlogin",
        env=django_env(cache_dir, db_path, debug=True,
                       extra={"BOTTLECRM_HELPER_ADMIN_PASSWORD": admin_password}),
        cwd=str(db_path.parent),
    )
    try:
        tokens: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise ProvisionError(f"devlogin helper printed no JSON: {result.stdout[-500:]}") from exc
    return tokens


def _api(method: str, url: str, token: str, payload: dict[str, object], what: str,
         expect: int) -> dict[str, object]:
    response = requests.request(
        method, url, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    if response.status_code != expect:
        raise ProvisionError(
            f"{what}: {method} {url} answered {response.status_code}: {response.text[:500]}"
        )
    body: dict[str, object] = response.json()
    return body


def create_identities(base_url: str, jwts: dict[str, str], user_email: str) -> dict[str, str]:
    """Org, USER membership and one personal access token each, through the HTTP API."""
    created = _api("POST", f"{base_url}/api/org/", jwts["admin"], {"name": "crmqa"},
                   "creating the org", 201)
    org_id = str(created["org"]["id"])  # type: ignore[index]
    admin_jwt = str(_api("POST", f"{base_url}/api/auth/switch-org/", jwts["admin"],
                         {"org_id": org_id}, "admin switching org", 200)["access_token"])
    _api("POST", f"{base_url}/api/users/", admin_jwt, {"email": user_email, "role": "USER"},
         "inviting the USER", 201)
    user_jwt = str(_api("POST", f"{base_url}/api/auth/switch-org/", jwts["user"],
                        {"org_id": org_id}, "USER switching org", 200)["access_token"])
    tokens = {}
    for who, jwt in (("admin", admin_jwt), ("user", user_jwt)):
        made = _api("POST", f"{base_url}/api/profile/tokens/", jwt,
                    {"name": f"crmqa-{who}", "scopes": TOKEN_SCOPES},
                    f"creating the {who}'s access token", 201)
        tokens[who] = str(made["token"])
    return {"org_id": org_id, **tokens}


# --------------------------------------------------------------------------- whole lifecycle

def prepare(cache_dir: Path = DEFAULT_CACHE_DIR, progress: Progress = _print_progress) -> Timings:
    """Steps 1-3 (install, settings, template): everything that is done once per cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    timings = Timings()
    # One process at a time (pytest-xdist workers, a parallel `up`): two pip installs into
    # one venv, or two secret keys for one cache, would break each other.
    with _file_lock(cache_dir / "prepare.lock"):
        timings.install_s = ensure_venv(cache_dir, progress)
        ensure_settings(cache_dir, progress)
        timings.migrate_s = ensure_template(cache_dir, progress)
    return timings


def start(cache_dir: Path = DEFAULT_CACHE_DIR, progress: Progress = _print_progress) -> BottleCrm:
    """Prepare if needed, copy the template, start the server and create the identities.

    The caller must `stop()` the returned instance.
    """
    timings = prepare(cache_dir, progress)
    prune_stale_runs(cache_dir, progress)
    started = time.monotonic()
    run_dir = new_run_dir(cache_dir)
    db_path = run_dir / "db.sqlite3"
    shutil.copyfile(template_path(cache_dir), db_path)
    timings.copy_s = time.monotonic() - started
    progress(f"run: copied the template to {db_path} in {timings.copy_s:.2f} s")

    started = time.monotonic()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start_server(cache_dir, run_dir, port, progress)
    _STARTED[process.pid] = process
    (run_dir / "server.pid").write_text(str(process.pid))
    try:
        wait_until_up(base_url, process, run_dir)
        timings.start_s = time.monotonic() - started
        progress(f"server: up in {timings.start_s:.1f} s")

        started = time.monotonic()
        suffix = secrets.token_hex(3)
        admin_email, user_email = f"admin-{suffix}@crmqa.test", f"user-{suffix}@crmqa.test"
        admin_password = secrets.token_urlsafe(18)
        jwts = mint_jwts(cache_dir, db_path, admin_email, user_email, admin_password)
        ids = create_identities(base_url, jwts, user_email)
        timings.identities_s = time.monotonic() - started
        progress(f"identities: org, ADMIN and USER with access tokens in "
                 f"{timings.identities_s:.1f} s")
    except BaseException:
        stop_process(process.pid)
        raise
    return BottleCrm(
        base_url=base_url, org_id=ids["org_id"], admin_email=admin_email,
        admin_token=ids["admin"], admin_password=admin_password, user_email=user_email,
        user_token=ids["user"], run_dir=str(run_dir), pid=process.pid, timings=timings,
    )


def stop(instance: BottleCrm, *, keep_run_dir: bool = False,
         progress: Progress = _print_progress) -> None:
    """Stop the server and delete the run folder this module created for it."""
    stop_process(instance.pid)
    progress(f"server: stopped (pid {instance.pid})")
    run_dir = Path(instance.run_dir)
    if not keep_run_dir and run_dir.parent.name == "runs":
        shutil.rmtree(run_dir, ignore_errors=True)


@contextlib.contextmanager
def running_bottlecrm(cache_dir: Path = DEFAULT_CACHE_DIR, *, keep_run_dir: bool = False,
                      progress: Progress = _print_progress) -> Iterator[BottleCrm]:
    """A fresh BottleCRM for the duration of the block (its own copy of the database)."""
    instance = start(cache_dir, progress)
    try:
        yield instance
    finally:
        stop(instance, keep_run_dir=keep_run_dir, progress=progress)


# --------------------------------------------------------------------------- command line

def _state_file(cache_dir: Path) -> Path:
    return cache_dir / "up.json"


def _load_state(cache_dir: Path) -> BottleCrm | None:
    path = _state_file(cache_dir)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data["timings"] = Timings(**data.get("timings", {}))
    return BottleCrm(**data)


def _alive(pid: int) -> bool:
    """True while the process group led by `pid` (a server started here) exists."""
    if pid <= 0:
        return False
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """`up` starts a background BottleCRM, `env` prints its variables, `down` stops it;
    `prepare` only installs and migrates (for setup scripts that warm the cache)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("up", "down", "env", "prepare"):
        print("usage: provision.py up|down|env|prepare\n"
              "  up       install if needed, start BottleCRM in the background\n"
              "  env      print `export NAME=value` lines for the running instance\n"
              "  down     stop it\n"
              "  prepare  install and migrate the template only", file=sys.stderr)
        return 2
    cache_dir = DEFAULT_CACHE_DIR
    state = _load_state(cache_dir)
    try:
        if args[0] == "prepare":
            timings = prepare(cache_dir)
            _print_progress(f"prepared: install {timings.install_s:.0f} s, "
                            f"migrate {timings.migrate_s:.0f} s")
            return 0
        if args[0] == "up":
            if state and _alive(state.pid):
                _print_progress(f"already up at {state.base_url}")
                return 0
            instance = start(cache_dir)
            path = _state_file(cache_dir)
            path.write_text(json.dumps(asdict(instance)))
            path.chmod(0o600)  # holds tokens
            timings = instance.timings
            _print_progress(
                f"up at {instance.base_url}; cold {timings.cold_s:.0f} s "
                f"(install {timings.install_s:.0f} + migrate {timings.migrate_s:.0f}), "
                f"warm {timings.warm_s:.1f} s (copy {timings.copy_s:.2f} + start "
                f"{timings.start_s:.1f}), identities {timings.identities_s:.1f} s. "
                f"Run `eval \"$(python {Path(__file__).relative_to(REPO_ROOT)} env)\"`."
            )
            return 0
        if state is None:
            _print_progress("not up (no .cache/bottlecrm/up.json)")
            return 1
        if args[0] == "env":
            for name, value in state.env().items():
                print(f"export {name}={value}")
            return 0
        stop(state)
        _state_file(cache_dir).unlink(missing_ok=True)
        return 0
    except ProvisionError as exc:
        print(f"bottlecrm: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
