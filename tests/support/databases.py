"""Real database servers for component tests.

PostgreSQL: the server on 127.0.0.1:5432 (trust auth) when one listens; otherwise a private
cluster started from Debian's binaries (`/usr/lib/postgresql/*/bin`) on a free port in a temporary
folder, as the `postgres` user when we run as root; otherwise the tests skip and say why.
MariaDB/MySQL: the server on 127.0.0.1:3306 (root, empty password, database `test`) when one
answers; otherwise a private server from Debian's `mariadb-server` binaries (`mariadb-install-db`,
`mariadbd`) on a free port in a temporary folder; otherwise the tests skip and say why.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pymysql
import pytest

from pipelines.framework.stack.server import free_port


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

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password="",
            database=self.database if database is None else database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=3,
        )


def _mariadb_binary(*names: str) -> str | None:
    """A server binary by name, in PATH or in /usr/sbin (not in a plain user's PATH on Debian)."""
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if found:
            return found
    return None


def _private_mariadb(folder: Path) -> tuple[MySQLServer | None, subprocess.Popen | None, str]:
    """mariadb-install-db + mariadbd in `folder`, root without a password: (server, its process,
    "") or (None, the process to stop if one started, why not)."""
    install = _mariadb_binary("mariadb-install-db", "mysql_install_db")
    daemon = _mariadb_binary("mariadbd", "mysqld")
    if install is None or daemon is None:
        return None, None, "nothing answers on 127.0.0.1:3306 and mariadb-server is not installed"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    data, port = folder / "data", free_port()
    result = subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={data}",
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
            *as_root,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        failure = result.stderr.strip() or result.stdout.strip()
        return None, None, f"mariadb-install-db failed: {failure}"
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped by the fixture
            [
                daemon,
                "--no-defaults",
                f"--datadir={data}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={folder / 'mysqld.sock'}",
                f"--pid-file={folder / 'mysqld.pid'}",
                "--skip-log-bin",
                "--character-set-server=utf8mb4",  # Debian's setting, skipped by --no-defaults
                "--collation-server=utf8mb4_general_ci",
                *as_root,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = MySQLServer(port=port)
    deadline = time.monotonic() + 60
    while True:
        try:
            with server.connect(database="mysql") as conn, conn.cursor() as cursor:
                cursor.execute("CREATE DATABASE IF NOT EXISTS test")
            return server, process, ""
        except pymysql.MySQLError as exc:
            if time.monotonic() > deadline:
                return None, process, f"the private MariaDB did not start: {exc}"
            time.sleep(0.2)


def _stop_mariadb(process: subprocess.Popen | None, folder: Path) -> None:
    if process is not None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MySQLServer]:
    """A MariaDB/MySQL server to read from: the machine's own, or a private one."""
    server = MySQLServer()
    try:
        server.connect().close()
    except pymysql.MySQLError as exc:
        local_failure = exc
    else:
        yield server
        return
    folder = Path(tempfile.mkdtemp(prefix="pipelines-mariadb-"))
    private, process, reason = _private_mariadb(folder)
    if private is None:
        _stop_mariadb(process, folder)
        pytest.skip(f"MariaDB/MySQL unavailable ({local_failure}); {reason}")
    try:
        yield private
    finally:
        _stop_mariadb(process, folder)


@pytest.fixture
def mysql_table(mysql_server) -> Iterator[str]:
    """A unique table name in `test`, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{name}`")
