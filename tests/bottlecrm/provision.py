"""Provision BottleCRM (PyPI `django-crm` 1.35.x) as a real third-party target on loopback.

Steps, each idempotent and each printing progress (the parts every loopback CRM shares live
in tests/provisioning.py):

1. venv: `.cache/bottlecrm/venv` from pyenv's Python 3.12 (BottleCRM needs >= 3.12; under
   3.11 pip quietly installs an unrelated 2019 package of the same name), then
   `pip install 'django-crm==1.35.*'`. Skipped when the venv's stamp holds the hash of that
   requirement and django-crm 1.35 imports there.
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
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

if __package__ in (None, ""):  # run as a script: the repository root holds `tests`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.provisioning import (
    Product,
    Progress,
    ProvisionError,
    file_lock,
    find_pyenv_python,
    free_port,
    new_run_dir,
    pip_install,
    progress_printer,
    run_command,
    stop_process,
)
from tests.provisioning import Timings as SharedTimings
from tests.provisioning import ensure_template as shared_ensure_template
from tests.provisioning import ensure_venv as shared_ensure_venv
from tests.provisioning import prune_stale_runs as shared_prune_stale_runs
from tests.provisioning import start_server as shared_start_server
from tests.provisioning import venv_python as shared_venv_python
from tests.provisioning import wait_until_up as shared_wait_until_up

__all__ = ["BottleCrm", "ProvisionError", "Timings", "running_bottlecrm"]

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


_print_progress = progress_printer("bottlecrm")


@dataclass
class Timings(SharedTimings):
    """The shared steps' seconds, and making the org and the users' access tokens."""

    identities_s: float = 0.0


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
    return find_pyenv_python("3.12", "BottleCRM")


def venv_python(cache_dir: Path) -> Path:
    return shared_venv_python(cache_dir / "venv")


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


def ensure_venv(cache_dir: Path, progress: Progress = _print_progress) -> float:
    """Create the venv and install BottleCRM unless it is already there.

    Returns the seconds spent (0 when skipped).
    """
    def install(python: Path) -> None:
        progress(f"venv: pip install '{PACKAGE_SPEC}' (about 95 s)")
        pip_install(python, [PACKAGE_SPEC], "installing django-crm")

    def probe(python: Path) -> bool:
        # The version matters: a same-named unrelated package once installed under 3.11.
        return (installed_version(cache_dir) or "").startswith("1.35.")

    return shared_ensure_venv(cache_dir / "venv", find_python312, [PACKAGE_SPEC], install,
                              probe, progress)


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

    Returns the seconds spent (0 when skipped).
    """
    def migrate(building: Path) -> None:
        work_dir = cache_dir / "migrate-work"
        work_dir.mkdir(exist_ok=True)
        progress("template: running migrate on SQLite (about 4 minutes on 2 cores)")
        run_command(
            [str(venv_python(cache_dir)), "-m", "django", "migrate", "--noinput"],
            "migrate",
            env=django_env(cache_dir, building, debug=False),
            cwd=str(work_dir),  # BottleCRM writes server.log and security_audit.log to cwd
        )

    return shared_ensure_template(template_path(cache_dir), migrate, progress)


# --------------------------------------------------------------------------- step 4: server

def start_server(cache_dir: Path, run_dir: Path, port: int, progress: Progress = _print_progress
                 ) -> subprocess.Popen[bytes]:
    """Start gunicorn (one worker, four threads: SQLite prefers one writer process)."""
    base_url = f"http://127.0.0.1:{port}"
    env = django_env(
        cache_dir, run_dir / "db.sqlite3", debug=False,
        extra={"BOTTLECRM_MEDIA_ROOT": str(run_dir / "media"), "BOTTLECRM_ORIGIN": base_url},
    )
    command = [
        str(venv_python(cache_dir)), "-m", "gunicorn", "crm.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
        "--timeout", "120", "--access-logfile", "-",
    ]
    progress(f"server: starting gunicorn on {base_url}")
    return shared_start_server(command, run_dir, env)


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], run_dir: Path,
                  timeout_s: float = 90.0) -> None:
    """Poll /healthz/ until it answers 200; fail early when the server process died."""
    shared_wait_until_up(f"{base_url}/healthz/", process, run_dir, "BottleCRM", timeout_s)


def prune_stale_runs(cache_dir: Path, progress: Progress = _print_progress) -> None:
    """Delete run folders left behind by killed runs (see tests/provisioning.py)."""
    shared_prune_stale_runs(cache_dir, progress)


# --------------------------------------------------------------------------- step 5: identities

def mint_jwts(cache_dir: Path, db_path: Path, admin_email: str, user_email: str,
              admin_password: str) -> dict[str, str]:
    """Run the product's `devlogin` (DEBUG only) for both users: JWTs with no org yet."""
    result = run_command(
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
    with file_lock(cache_dir / "prepare.lock"):
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


PRODUCT = Product(name="bottlecrm", title="BottleCRM", cache_dir=DEFAULT_CACHE_DIR,
                  prepare=prepare, start=start,
                  instance_type=BottleCrm, timings_type=Timings, script=Path(__file__))


def running_bottlecrm(cache_dir: Path = DEFAULT_CACHE_DIR, *, keep_run_dir: bool = False,
                      progress: Progress = _print_progress
                      ) -> contextlib.AbstractContextManager[BottleCrm]:
    """A fresh BottleCRM for the duration of the block (its own copy of the database)."""
    return PRODUCT.running(cache_dir, keep_run_dir=keep_run_dir, progress=progress)


main = PRODUCT.main

if __name__ == "__main__":
    sys.exit(main())
