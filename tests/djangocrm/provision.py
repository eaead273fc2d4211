"""Provision Django CRM (PyPI `django-crm-admin` 3.1) as a real third-party target on loopback.

Django CRM is a whole Django project built on Django's admin, with no REST API: crmqa drives
it through its web pages only. Steps, each idempotent and each printing progress (the shared
parts live in tests/provisioning.py):

1. venv: `.cache/djangocrm/venv` from pyenv's Python 3.12 (Django 6 needs >= 3.12). `pip
   install django-crm-admin` fails here on its pinned `mysqlclient` (it needs MySQL's
   headers, and MySQL is not used with SQLite), so the wheel is downloaded, its declared
   requirements are installed without `mysqlclient`, then the wheel itself with `--no-deps`,
   plus Pillow (imported by the product but not declared), gunicorn and WhiteNoise. The
   venv is keyed by a hash of what it holds.
2. settings: a module of ours (`djangocrm_local`, not `settings`: that name is one of the
   product's packages) importing `webcrm.settings` with an SQLite path, a media folder with
   `exported/` (export answers 500 without it), a console e-mail backend and a SECRET_KEY
   generated once per cache.
3. template: the product's `setupdata` (migrate, reference data, the users IamSUPER,
   IamGlobalSALES and IamLocalSALES) plus an operator, each given a password kept in the
   cache (`passwords.json`, mode 600); every run copies the template.
4. server: gunicorn (one worker, eight threads) with WhiteNoise for the static files, both
   added to the venv, on a free 127.0.0.1 port, in a per-run folder.

Use `running_djangocrm()` from Python, or `python tests/djangocrm/provision.py up|down|env|prepare`.
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
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root holds `tests`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.provisioning import (
    Product,
    Progress,
    ProvisionError,
    Timings,
    clean_env,
    ensure_template,
    ensure_venv,
    file_lock,
    find_pyenv_python,
    free_port,
    new_run_dir,
    pip_install,
    progress_printer,
    prune_stale_runs,
    run_command,
    start_server,
    stop_process,
    venv_python,
    wait_until_up,
)

__all__ = ["DjangoCrm", "ProvisionError", "Timings", "running_djangocrm"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = Path(
    os.environ.get("CRMQA_DJANGOCRM_CACHE") or REPO_ROOT / ".cache" / "djangocrm"
)
PACKAGE = "django-crm-admin"
VERSION = "3.1.0"
# Requirements of the wheel that cannot be met here and are not used with SQLite.
LEFT_OUT = ("mysqlclient",)
# Imported by the product (avatars, images) but not among its declared requirements; and what
# serves it here: Django's runserver hands out each page's thirty-odd static files one by one
# from Python, several times slower in a browser than gunicorn's threads with WhiteNoise.
UNDECLARED = ("Pillow", "gunicorn", "whitenoise")
HELPER_SCRIPT = Path(__file__).with_name("venv_helper.py")
SETTINGS_MODULE = "djangocrm_local"
# The product's secret URL prefixes (webcrm/settings.py): the CRM, and its login page.
CRM_PREFIX = "/en/123/"
LOGIN_PATH = "/en/123/789-login/"
USERS = ("IamSUPER", "IamGlobalSALES", "IamLocalSALES", "IamOPERATOR")

SETTINGS_SOURCE = '''"""Django CRM settings for crmqa's tests, written by provision.py."""

import os
from pathlib import Path

from webcrm.settings import *  # noqa: F401, F403

DEBUG = False
SECRET_KEY = os.environ["DJANGOCRM_SECRET_KEY"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJANGOCRM_DB_PATH"],
        # The import runs in a thread beside the request threads: wait for a lock, do not fail.
        # IMMEDIATE: a transaction takes the write lock when it starts; the default (deferred)
        # one fails at once with "database is locked" when it must upgrade to write while
        # another thread writes (seen on a delete beside the import thread).
        "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
    }
}
MEDIA_ROOT = Path(os.environ.get("DJANGOCRM_MEDIA_ROOT", "media"))
# Mail goes nowhere: nothing may leave this machine.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Static files straight from the installed apps (no collectstatic step), served by WhiteNoise.
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware",  # noqa: F405
              *MIDDLEWARE[1:]]  # noqa: F405
WHITENOISE_USE_FINDERS = True
'''


_print_progress = progress_printer("djangocrm")


@dataclass
class DjangoCrm:
    """A running Django CRM: where it is and who may log in (username -> password)."""

    base_url: str
    passwords: dict[str, str]
    run_dir: str
    pid: int
    timings: Timings = field(default_factory=Timings)

    def env(self) -> dict[str, str]:
        """Environment variables plans/djangocrm.yaml reads."""
        env = {"DJANGOCRM_BASE_URL": self.base_url}
        for username, password in self.passwords.items():
            env[f"DJANGOCRM_{username.upper()}_PASSWORD"] = password
        return env

    def __repr__(self) -> str:  # never print passwords
        return f"DjangoCrm(base_url={self.base_url!r}, pid={self.pid})"


# --------------------------------------------------------------------------- step 1: venv

def find_python312() -> Path:
    """pyenv's Python 3.12 interpreter (Django 6 needs >= 3.12)."""
    return find_pyenv_python("3.12", "Django CRM")


def wheel_requirements(wheel: Path) -> list[str]:
    """The `Requires-Dist` lines of a wheel's metadata, without environment markers' extras."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    return [requirement for requirement in metadata.get_all("Requires-Dist") or []
            if "extra ==" not in requirement]


def installable(requirements: list[str]) -> list[str]:
    """The requirements to install here: all but LEFT_OUT, plus UNDECLARED."""
    def name(requirement: str) -> str:
        return requirement.split(";")[0].split("=")[0].split("<")[0].split(">")[0].strip()

    kept = [r for r in requirements if name(r).lower() not in LEFT_OUT]
    return kept + list(UNDECLARED)


_PROBE = ("import webcrm, crm, django, pandas, PIL, gunicorn, whitenoise; "
          f"from importlib.metadata import version; print(version('{PACKAGE}'))")


def _importable(python: Path) -> bool:
    if not python.exists():
        return False
    result = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True,
                            check=False)
    return result.returncode == 0 and result.stdout.strip() == VERSION


def ensure_product_venv(cache_dir: Path, progress: Progress = _print_progress) -> float:
    """Install Django CRM into `cache_dir/venv` unless it is there; seconds spent."""
    spec = f"{PACKAGE}=={VERSION}"

    def install(python: Path) -> None:
        wheels = cache_dir / "wheels"
        progress(f"venv: downloading the {spec} wheel")
        run_command([str(python), "-m", "pip", "download", "--quiet", "--no-deps",
                     "--disable-pip-version-check", "-d", str(wheels), spec],
                    f"downloading {spec}")
        wheel = next(wheels.glob(f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"))
        requirements = installable(wheel_requirements(wheel))
        progress(f"venv: pip install {len(requirements)} requirements without "
                 f"{', '.join(LEFT_OUT)} (about 65 s)")
        pip_install(python, requirements, "installing Django CRM's requirements")
        pip_install(python, ["--no-deps", str(wheel)], f"installing {spec}")

    # The key names what goes in: the package, what is left out and what is added.
    key_parts = [spec, *(f"-{name}" for name in LEFT_OUT), *(f"+{name}" for name in UNDECLARED)]
    return ensure_venv(cache_dir / "venv", find_python312, key_parts, install, _importable,
                       progress)


# --------------------------------------------------------------------------- step 2: settings

def ensure_settings(cache_dir: Path, progress: Progress = _print_progress) -> None:
    """Write the settings module and the per-cache secret key."""
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


def django_env(cache_dir: Path, db_path: Path, media: Path, extra: dict[str, str] | None = None
               ) -> dict[str, str]:
    """Environment for any Django process of this Django CRM."""
    env = clean_env()
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        PYTHONPATH=str(cache_dir / "settings"),
        DJANGOCRM_SECRET_KEY=(cache_dir / "secret_key").read_text().strip(),
        DJANGOCRM_DB_PATH=str(db_path),
        DJANGOCRM_MEDIA_ROOT=str(media),
    )
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- step 3: template

def template_path(cache_dir: Path) -> Path:
    """The set-up database of this version (a new version sets up again)."""
    return cache_dir / f"template-{VERSION}.sqlite3"


def passwords_path(cache_dir: Path) -> Path:
    return cache_dir / f"passwords-{VERSION}.json"


def ensure_product_template(cache_dir: Path, progress: Progress = _print_progress) -> float:
    """Run `setupdata` and set the users' passwords once; seconds spent (0 when reused)."""
    def build(building: Path) -> None:
        work = cache_dir / "setup-work"
        (work / "media" / "exported").mkdir(parents=True, exist_ok=True)
        env = django_env(cache_dir, building, work / "media")
        python = str(venv_python(cache_dir / "venv"))
        progress("template: setupdata (migrate and reference data, about 25 s)")
        run_command([python, "-m", "django", "setupdata"], "setupdata", env=env, cwd=str(work))
        passwords = {user: secrets.token_urlsafe(12) for user in USERS}
        run_command([python, str(HELPER_SCRIPT)], "setting the users' passwords",
                    env={**env, "DJANGOCRM_HELPER_PASSWORDS": json.dumps(passwords)},
                    cwd=str(work))
        path = passwords_path(cache_dir)
        path.write_text(json.dumps(passwords))
        path.chmod(0o600)

    if template_path(cache_dir).exists() and not passwords_path(cache_dir).exists():
        template_path(cache_dir).unlink()  # a template whose passwords are lost is useless
    return ensure_template(template_path(cache_dir), build, progress)


# --------------------------------------------------------------------------- lifecycle

def prepare(cache_dir: Path = DEFAULT_CACHE_DIR, progress: Progress = _print_progress) -> Timings:
    """Install, settings and template: everything that is done once per cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    timings = Timings()
    with file_lock(cache_dir / "prepare.lock"):
        timings.install_s = ensure_product_venv(cache_dir, progress)
        ensure_settings(cache_dir, progress)
        timings.migrate_s = ensure_product_template(cache_dir, progress)
    return timings


def start(cache_dir: Path = DEFAULT_CACHE_DIR, progress: Progress = _print_progress
          ) -> DjangoCrm:
    """Prepare if needed, copy the template and start the server; the caller must `stop()`."""
    timings = prepare(cache_dir, progress)
    prune_stale_runs(cache_dir, progress)
    started = time.monotonic()
    run_dir = new_run_dir(cache_dir)
    (run_dir / "media" / "exported").mkdir(parents=True)
    db_path = run_dir / "db.sqlite3"
    shutil.copyfile(template_path(cache_dir), db_path)
    timings.copy_s = time.monotonic() - started

    started = time.monotonic()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # One worker (SQLite prefers one writing process; the import thread lives in it), threads
    # for the browser's parallel requests.
    command = [str(venv_python(cache_dir / "venv")), "-m", "gunicorn", "webcrm.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8",
               "--timeout", "120", "--access-logfile", "-"]
    progress(f"server: starting on {base_url}")
    process = start_server(command, run_dir, django_env(cache_dir, db_path, run_dir / "media"))
    try:
        wait_until_up(f"{base_url}{LOGIN_PATH}", process, run_dir, "Django CRM")
    except BaseException:
        stop_process(process.pid)
        raise
    timings.start_s = time.monotonic() - started
    progress(f"server: up in {timings.start_s:.1f} s")
    passwords = json.loads(passwords_path(cache_dir).read_text())
    return DjangoCrm(base_url=base_url, passwords=passwords, run_dir=str(run_dir),
                     pid=process.pid, timings=timings)


PRODUCT = Product(name="djangocrm", title="Django CRM", cache_dir=DEFAULT_CACHE_DIR,
                  prepare=prepare, start=start,
                  instance_type=DjangoCrm, timings_type=Timings, script=Path(__file__),
                  migrate_word="setupdata")


def running_djangocrm(cache_dir: Path = DEFAULT_CACHE_DIR, *, keep_run_dir: bool = False,
                      progress: Progress = _print_progress
                      ) -> contextlib.AbstractContextManager[DjangoCrm]:
    """A fresh Django CRM for the duration of the block (its own copy of the database)."""
    return PRODUCT.running(cache_dir, keep_run_dir=keep_run_dir, progress=progress)


main = PRODUCT.main

if __name__ == "__main__":
    sys.exit(main())
