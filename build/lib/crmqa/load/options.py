"""The run's load settings: pytest options, their `CRMQA_LOAD_*` variables, and how the load
driver reads them in every process.

As with the browser options, the controller exports what the command line gave into the
environment, and pytest-xdist workers inherit it; the load driver reads the environment.
Every option carries the `--crmqa-` prefix (crmqa shares pytest with other plugins).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import pytest

    from crmqa.load.locustfile import LoadSetting

CONFIRM_ENV = "CRMQA_CONFIRM_LOAD"
WORKERS_ENV = "CRMQA_LOAD_WORKERS"
EXTERNAL_ENV = "CRMQA_LOAD_EXTERNAL_WORKERS"
BIND_ENV = "CRMQA_LOAD_BIND"
DEFAULT_PORT = 5557


class LoadOptionError(ValueError):
    """A load option with a value crmqa cannot use."""


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 256:
        raise argparse.ArgumentTypeError("use 0 to 256 worker processes")
    return value


def parse_bind(text: str) -> tuple[str, int]:
    """`HOST:PORT` (or `HOST`, or `:PORT`) where the Locust master listens."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not port:
        return host or "127.0.0.1", DEFAULT_PORT
    try:
        number = int(port)
    except ValueError:
        raise LoadOptionError(f"{text!r}: the port must be a number") from None
    if not 1 <= number <= 65535:
        raise LoadOptionError(f"{text!r}: the port must be between 1 and 65535")
    return host or "127.0.0.1", number


def _bind(text: str) -> str:
    try:
        parse_bind(text)
    except LoadOptionError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_load_options(group: pytest.OptionGroup) -> None:
    """Add the `--crmqa-*` load options to pytest's crmqa group."""
    group.addoption("--crmqa-confirm-load", action="store_true",
                    help="allow load cases against a target that is not on this machine "
                    f"[env {CONFIRM_ENV}]")
    group.addoption("--crmqa-load-workers", type=_count, default=None, metavar="N",
                    help="run each load on a Locust master and N worker processes on this "
                    f"machine (default: one process) [env {WORKERS_ENV}]")
    group.addoption("--crmqa-load-external-workers", type=_count, default=None, metavar="N",
                    help="also wait for N Locust workers started on other machines with "
                    f"`crmqa load-worker` [env {EXTERNAL_ENV}]")
    group.addoption("--crmqa-load-bind", type=_bind, default=None, metavar="HOST:PORT",
                    help="where the Locust master listens for workers (default: "
                    f"127.0.0.1:{DEFAULT_PORT}) [env {BIND_ENV}]")


def export_load_options(values: Any, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the load options given on the command line into the environment."""
    environ = os.environ if environ is None else environ
    if getattr(values, "crmqa_confirm_load", False):
        environ[CONFIRM_ENV] = "1"
    for dest, name in (("crmqa_load_workers", WORKERS_ENV),
                       ("crmqa_load_external_workers", EXTERNAL_ENV),
                       ("crmqa_load_bind", BIND_ENV)):
        value = getattr(values, dest, None)
        if value is not None:
            environ[name] = str(value)


def load_setting(environ: Mapping[str, str] | None = None) -> LoadSetting:
    """The run's load setting, from the environment (raises LoadOptionError when wrong)."""
    # Imported here: pytest_addoption imports this module in every pytest run, and the
    # locustfile module brings the plan models with it.
    from crmqa.load.locustfile import LoadSetting

    environ = os.environ if environ is None else environ

    def number(name: str) -> int:
        text = environ.get(name, "").strip()
        if not text:
            return 0
        try:
            value = int(text)
        except ValueError:
            raise LoadOptionError(f"{name}={text!r} is not a whole number") from None
        if not 0 <= value <= 256:
            raise LoadOptionError(f"{name}={text!r}: use 0 to 256")
        return value

    given = environ.get(BIND_ENV, "").strip()
    external = number(EXTERNAL_ENV)
    host, port = parse_bind(given or f"127.0.0.1:{DEFAULT_PORT}")
    if not given and not external:
        port = 0  # only crmqa's own workers: any free loopback port (loads may run side by side)
    return LoadSetting(workers=number(WORKERS_ENV), external_workers=external,
                       bind_host=host, bind_port=port)


def load_confirmed(environ: Mapping[str, str] | None = None) -> bool:
    """True when the run confirmed load against a target that is not on this machine."""
    environ = os.environ if environ is None else environ
    return environ.get(CONFIRM_ENV, "").strip().lower() in ("1", "true", "yes")


def is_loopback(url: str) -> bool:
    """True when `url` names this machine: localhost, 127.0.0.0/8 or ::1."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pytest_load_arguments(*, confirm: bool = False, workers: int | None = None,
                          external_workers: int | None = None,
                          bind: str | None = None) -> list[str]:
    """`crmqa run`'s load options as the plugin's `--crmqa-*` pytest options."""
    args = ["--crmqa-confirm-load"] if confirm else []
    if workers is not None:
        args += ["--crmqa-load-workers", str(workers)]
    if external_workers is not None:
        args += ["--crmqa-load-external-workers", str(external_workers)]
    if bind:
        args += ["--crmqa-load-bind", bind]
    return args
