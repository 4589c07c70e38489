"""deploy/postgres/init-databases.sh, run against a real PostgreSQL server.

The compose stack runs it in the postgres:15 image; here it runs with ``psql`` against the
test server (``DATABASE_URL`` or 127.0.0.1:5432, as the rest of the suite), creating
throwaway roles and databases that are dropped afterwards. Skipped without ``psql`` or a
server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest

from . import manifests as m

SCRIPT = m.DEPLOY / "postgres" / "init-databases.sh"


def _server_env() -> dict[str, str]:
    url = urlsplit(os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGCONNECT_TIMEOUT": "5",
        "POSTGRES_USER": url.username or "postgres",
    }
    if url.password:
        env["PGPASSWORD"] = url.password
    return env


def _psql(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "--no-psqlrc", "-X", "-v", "ON_ERROR_STOP=1", "-tA", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def server() -> dict[str, str]:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    env = _server_env()
    probe = _psql(env, "-U", env["POSTGRES_USER"], "-d", "postgres", "-c", "SELECT 1")
    if probe.returncode != 0:
        pytest.skip(f"no PostgreSQL server: {probe.stderr.strip()}")
    return env


def test_creates_one_private_database_per_service(server: dict[str, str]) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = [f"deploytest_{suffix}_a", f"deploytest_{suffix}_b"]
    admin = ["-U", server["POSTGRES_USER"], "-d", "postgres"]
    env = {**server, "APP_DATABASES": " ".join(names), "APP_DATABASE_PASSWORD": "pw-" + suffix}
    try:
        result = subprocess.run(
            ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        owners = _psql(
            server,
            *admin,
            "-c",
            "SELECT datname || '=' || pg_get_userbyid(datdba) FROM pg_database "  # noqa: S608
            f"WHERE datname LIKE 'deploytest_{suffix}_%' ORDER BY 1",  # suffix: hex digits
        )
        assert owners.stdout.split() == [f"{name}={name}" for name in names]
        a, b = names
        login = {**server, "PGPASSWORD": "pw-" + suffix}
        own = _psql(login, "-U", a, "-d", a, "-c", "CREATE TABLE t (x int); SELECT 1")
        assert own.returncode == 0, own.stderr
        foreign = _psql(login, "-U", a, "-d", b, "-c", "SELECT 1")
        assert foreign.returncode != 0, "a service must not connect to another's database"
        assert "permission denied" in foreign.stderr
        again = subprocess.run(
            ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert again.returncode != 0, "a failure stops the init (ON_ERROR_STOP)"
    finally:
        for name in names:
            _psql(server, *admin, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _psql(server, *admin, "-c", f'DROP ROLE IF EXISTS "{name}"')


def test_refuses_to_run_without_its_variables(server: dict[str, str]) -> None:
    result = subprocess.run(
        ["sh", str(SCRIPT)], env=server, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "APP_DATABASES" in result.stderr
