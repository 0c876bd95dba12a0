"""Real database servers for component tests.

PostgreSQL: the server on 127.0.0.1:5432 (trust auth) when one listens; otherwise a private
cluster started from Debian's binaries (`/usr/lib/postgresql/*/bin`) on a free port in a temporary
folder, as the `postgres` user when we run as root; otherwise the tests skip and say why.
MariaDB/MySQL: the server on 127.0.0.1:3306 (root, empty password, database `test`), or skip.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pymysql
import pytest

from pipelines.framework.server import free_port


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    database: str

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=self.database, **kwargs
        )


def _answers(host: str, port: int, user: str, database: str) -> bool:
    try:
        with psycopg.connect(host=host, port=port, user=user, dbname=database, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _private_cluster(folder: Path) -> tuple[PostgresServer | None, str]:
    """initdb + pg_ctl from Debian's binaries, or (None, why not)."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        return None, "no PostgreSQL listens on 127.0.0.1:5432 and no initdb is installed"
    bin_dir = Path(binaries[-1]).parent
    prefix: list[str] = []
    if os.geteuid() == 0:
        if (
            shutil.which("runuser") is None
            or subprocess.run(["id", "postgres"], capture_output=True).returncode
        ):
            return None, "running as root without a 'postgres' user to start a private cluster"
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    steps = [
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"],
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1",
            "start",
        ],
    ]
    for step in steps:
        result = subprocess.run(prefix + step, capture_output=True, text=True, timeout=120)
        if result.returncode:
            return None, f"private cluster failed: {result.stderr.strip() or result.stdout.strip()}"
    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE DATABASE test")
    return PostgresServer("127.0.0.1", port, "postgres", "test"), ""


def _stop_cluster(folder: Path) -> None:
    bin_dir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]).parent
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*prefix, str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "stop"],
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server to read from: the machine's own, or a private one."""
    if _answers("127.0.0.1", 5432, "postgres", "test"):
        yield PostgresServer("127.0.0.1", 5432, "postgres", "test")
        return
    folder = Path(tempfile.mkdtemp(prefix="pipelines-pg-"))
    server, reason = _private_cluster(folder)
    if server is None:
        pytest.skip(f"PostgreSQL unavailable: {reason}")
    try:
        yield server
    finally:
        _stop_cluster(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_schema(postgres_server) -> Iterator[str]:
    """A fresh schema with a unique name, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        with postgres_server.connect(autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


@dataclass(frozen=True)
class MySQLServer:
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    database: str = "test"

    def connect(self) -> pymysql.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password="",
            database=self.database,
            charset="utf8mb4",
            autocommit=True,
        )


@pytest.fixture(scope="session")
def mysql_server() -> MySQLServer:
    server = MySQLServer()
    try:
        server.connect().close()
    except pymysql.MySQLError as exc:
        pytest.skip(f"MariaDB/MySQL unavailable on 127.0.0.1:3306: {exc}")
    return server


@pytest.fixture
def mysql_table(mysql_server) -> Iterator[str]:
    """A unique table name in `test`, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{name}`")
