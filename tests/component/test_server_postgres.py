# ruff: noqa: F811  (pytest fixtures are imported by name)
# pylint: disable=redefined-outer-name,unused-import
"""The Prefect server on this machine's real PostgreSQL, in a database of the test's own (created,
then dropped):

- `pipelines up` with `PIPELINES_DATABASE_URL`: migrations, pools, deployments and a run through
  a worker; a secret saved before a restart is read after it, and its key is not in the database.
- The replica layout of Prefect's scaling guide, with the platform's own server environment: two
  API processes with `--no-services`, `prefect server services start` once, Redis messaging
  (prefect-redis) on a redis-server of the test's own; a worker polls one replica, the run is
  created through the other, and the services (scheduler, late runs) work from their process.
"""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from pipelines.framework.config.settings import Settings
from pipelines.framework.stack.dev import RandomUserAPI
from pipelines.framework.stack.server import (
    free_port,
    is_healthy,
    server_environment,
    stop_process_group,
)
from tests.conftest import run_pipelines
from tests.support.databases import postgres_server  # noqa: F401
from tests.support.prefect_api import client_for, wait_for_final_state

pytestmark = pytest.mark.component
USERS_REPORT = "EMD: escritorio - Users report/EMD: escritorio - Users report (local)"
START_TIMEOUT = 300


@pytest.fixture
def prefect_database(postgres_server) -> str:
    """A database for the server alone; dropped (its connections closed) afterwards."""
    name = f"prefect_{uuid.uuid4().hex[:10]}"
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = (
        f"postgresql+asyncpg://{postgres_server.user}@{postgres_server.host}:"
        f"{postgres_server.port}/{name}"
    )
    try:
        yield url
    finally:
        with postgres_server.connect(autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _query(database_url: str, sql: str) -> list[tuple]:
    plain = database_url.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        return conn.execute(sql).fetchall()


def _stack_env(home: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(
        PIPELINES_HOME=str(home),
        PIPELINES_DATABASE_URL=database_url,
        PIPELINES_SERVER_START_TIMEOUT=str(START_TIMEOUT),
        NO_COLOR="1",
        COLUMNS="200",
    )
    return env


def test_up_on_postgresql_runs_a_flow_through_a_worker_and_keeps_its_key_outside(
    prefect_database, tmp_path
):
    env = _stack_env(tmp_path / "home", prefect_database)
    port = free_port()
    started = run_pipelines("up", "--detach", "--port", str(port), env=env, timeout=600)
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        url = f"http://127.0.0.1:{port}/api"
        saved = run_pipelines("secrets", "set", "db/pg", "password=s3cr3t", env=env)
        assert saved.returncode == 0, saved.stderr
        with RandomUserAPI() as api, client_for(url) as client:
            deployment = client.read_deployment_by_name(USERS_REPORT)
            run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={
                    "n_users": 3,
                    "api_url": api.url,
                    "output_path": str(tmp_path / "report.csv"),
                },
            )
            finished = wait_for_final_state(client, run.id, timeout=300)
        assert finished.state.is_completed(), finished.state
        assert (tmp_path / "report.csv").read_text().count("\n") == 4  # header + 3 users
    finally:
        run_pipelines("down", env=env)

    # the run, the pools and the secret are rows of this PostgreSQL database ...
    assert _query(prefect_database, f"SELECT count(*) FROM flow_run WHERE id = '{run.id}'") == [
        (1,)
    ]
    assert ("rj-escritorio",) in _query(prefect_database, "SELECT name FROM work_pool")
    # ... but not the key of the secrets: it is the home's key file, given to the server
    stored = _query(prefect_database, "SELECT key FROM configuration")
    assert ("ENCRYPTION_KEY",) not in stored
    assert (tmp_path / "home" / "encryption.key").stat().st_mode & 0o777 == 0o600

    restarted = run_pipelines("up", "--detach", "--port", str(free_port()), env=env, timeout=600)
    try:
        assert restarted.returncode == 0, restarted.stderr + restarted.stdout
        read = run_pipelines("secrets", "get", "db/pg", "--reveal", env=env)
        assert read.returncode == 0, read.stderr
        assert "s3cr3t" in read.stdout
    finally:
        run_pipelines("down", env=env)


def test_a_key_stored_in_postgresql_by_a_server_without_one_is_adopted(
    prefect_database, tmp_path, monkeypatch
):
    """A database whose server ran without `PREFECT_SERVER_ENCRYPTION_KEY` holds Prefect's own
    key: the first `up` adopts it into the key file, so the secrets saved then stay readable."""
    from cryptography.fernet import Fernet

    from pipelines.framework.stack.security import encryption_key

    key = Fernet.generate_key().decode()
    plain = prefect_database.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:  # as Prefect's own table holds it
        conn.execute("CREATE TABLE configuration (key text PRIMARY KEY, value jsonb)")
        conn.execute(
            "INSERT INTO configuration VALUES ('ENCRYPTION_KEY', %s::jsonb)",
            (f'{{"fernet_key": "{key}"}}',),
        )
    settings = Settings(home=tmp_path, database_url=prefect_database)
    monkeypatch.delenv("PREFECT_SERVER_ENCRYPTION_KEY", raising=False)
    assert encryption_key(settings) == key
    assert (tmp_path / "encryption.key").read_text().strip() == key


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(  # pylint: disable=consider-using-with  # stopped in finally
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not is_healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{url} did not start: {log.read_text()[-3000:]}")
        time.sleep(0.5)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_replica_layout_on_postgresql_and_redis_completes_a_run(prefect_database, tmp_path):
    redis_port = free_port()
    redis = _start(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        dict(os.environ),
        tmp_path / "redis.log",
    )  # fmt: skip
    settings = Settings(
        home=tmp_path / "home",
        database_url=prefect_database,
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
    )
    env = {**server_environment(settings), "PREFECT_API_DATABASE_MIGRATE_ON_START": "false"}
    prefect = [sys.executable, "-m", "prefect"]
    processes = [redis]
    try:
        migrated = subprocess.run(
            [*prefect, "server", "database", "upgrade", "-y"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        urls = []
        for replica in range(2):
            port = free_port()
            log = tmp_path / f"api-{replica}.log"
            api = _start(
                [*prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port),
                 "--no-services"],
                env,
                log,
            )  # fmt: skip
            processes.append(api)
            urls.append(f"http://127.0.0.1:{port}/api")
            _wait_healthy(urls[-1], api, log)
        processes.append(
            _start([*prefect, "server", "services", "start"], env, tmp_path / "services.log")
        )

        # registration and the worker through replica 0, the run created through replica 1
        client_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")},
            "PREFECT_API_URL": urls[0],
            "PIPELINES_HOME": str(tmp_path / "home"),
            "NO_COLOR": "1",
        }
        registered = run_pipelines("register", "--env", "local", env=client_env, timeout=600)
        assert registered.returncode == 0, registered.stderr + registered.stdout
        processes.append(
            _start(
                [*prefect, "worker", "start", "--pool", "rj-escritorio-dev", "--work-queue",
                 "local", "--install-policy", "never", "--no-create-pool-if-not-found"],
                {**client_env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
                tmp_path / "worker.log",
            )
        )  # fmt: skip
        with RandomUserAPI() as api, client_for(urls[1]) as client:
            deployment = client.read_deployment_by_name(USERS_REPORT)
            assert deployment.work_pool_name == "rj-escritorio-dev"
            run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={
                    "n_users": 2,
                    "api_url": api.url,
                    "output_path": str(tmp_path / "r.csv"),
                },
            )
            finished = wait_for_final_state(client, run.id, timeout=300)
        assert finished.state.is_completed(), (
            finished.state,
            (tmp_path / "worker.log").read_text()[-3000:],
        )
        # the scheduler ran in the services process: the deployment's schedule has future runs
        scheduled = _query(
            prefect_database,
            f"SELECT count(*) FROM flow_run WHERE deployment_id = '{deployment.id}' "
            "AND state_type = 'SCHEDULED'",
        )
        assert scheduled[0][0] > 0, (tmp_path / "services.log").read_text()[-3000:]
        # events went through Redis: prefect-redis created its streams there
        keys = subprocess.run(
            ["redis-cli", "-p", str(redis_port), "--scan"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.split()
        assert keys, "nothing in Redis"
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                stop_process_group(process.pid, timeout=10)
