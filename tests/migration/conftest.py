"""Database servers for the migration tests, started once per test session (and worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.migration.servers import Server, find_mariadb, find_postgres, mariadb, postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """A throw-away PostgreSQL server; skips only when PostgreSQL is not installed."""
    bin_dir = find_postgres()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server is not installed (initdb not found; "
                    "scripts/setup.sh installs it)")
    with postgres(bin_dir) as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[Server]:
    """A throw-away MariaDB server; skips only when MariaDB is not installed."""
    found = find_mariadb()
    if found is None:
        pytest.skip("MariaDB's server is not installed (mariadb-install-db / mariadbd not "
                    "found; scripts/setup.sh installs it)")
    with mariadb(*found) as server:
        yield server
