"""Throw-away PostgreSQL and MariaDB servers for the migration tests: each in a temp folder,
on a free loopback port, with a password-protected user, stopped and removed afterwards.

Both servers refuse to run as root, so as root (CI) they run as the `postgres` / `mysql`
users the Debian packages create. `find_*` return None when the server is not installed;
the tests then skip and say so.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD, DATABASE = "crmqa_reader", "s3cret-Pw-91", "legacy"


@dataclass(frozen=True)
class Server:
    engine: str  # postgresql or mysql
    port: int
    user: str = USER
    password: str = PASSWORD
    database: str = DATABASE

    @property
    def url(self) -> str:
        return f"{self.engine}://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_postgres() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), newest version first."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def find_mariadb() -> tuple[str, str] | None:
    """mariadb-install-db and the server binary (mariadbd or mysqld)."""
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    server = (shutil.which("mariadbd") or shutil.which("mysqld")
              or next((p for p in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld")
                       if os.access(p, os.X_OK)), None))
    return (install, server) if install and server else None


def _as(user: str) -> list[str]:
    """Run as `user` when we are root (the servers refuse root)."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _folder(owner: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"crmqa-{owner}-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(owner)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


def _wait(ready: Callable[[], bool], what: str, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"{what} did not start in {seconds} s:\n{tail}")


@contextmanager
def postgres(bin_dir: Path) -> Iterator[Server]:
    """A PostgreSQL server with database `legacy` and a user that logs in with a password."""
    import psycopg

    folder = _folder("postgres")
    data, log, pwfile = folder / "data", folder / "server.log", folder / "pw"
    pwfile.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres")
    port = free_port()
    try:
        subprocess.run([*_as("postgres"), str(bin_dir / "initdb"), "-D", str(data), "-U", USER,
                        f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                        "--no-sync", "--locale=C"], check=True, capture_output=True, timeout=60)
        subprocess.run([*_as("postgres"), str(bin_dir / "pg_ctl"), "-D", str(data), "-l",
                        str(log), "-w", "-t", "30", "-o",
                        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c full_page_writes=off -c shared_buffers=16MB", "start"],
                       check=True, capture_output=True, timeout=60)
        server = Server("postgresql", port)
        with psycopg.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                             dbname="postgres", autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        yield server
    finally:
        subprocess.run([*_as("postgres"), str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                        "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def mariadb(install: str, binary: str) -> Iterator[Server]:
    """A MariaDB server with database `legacy` and a user that logs in with a password."""
    import pymysql

    folder = _folder("mysql")
    data, log, sock = folder / "data", folder / "server.log", folder / "s.sock"
    port = free_port()
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    subprocess.run([install, "--no-defaults", f"--datadir={data}", *user,
                    "--auth-root-authentication-method=normal", "--skip-test-db",
                    "--skip-name-resolve"], check=True, capture_output=True, timeout=120)
    process = subprocess.Popen(
        [binary, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--log-error={log}", f"--pid-file={folder / 'pid'}",
         "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
         "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0",
         "--character-set-server=utf8mb4", *user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                pymysql.connect(unix_socket=str(sock), user="root").close()
                return True
            except pymysql.err.OperationalError:
                return False

        _wait(ready, "mariadbd", log)
        root = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
        with root.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
            cursor.execute(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
            cursor.execute(f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1'")
        root.close()
        yield Server("mysql", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)
