"""The local server's database copied from a template: the schema of a really migrated one,
nothing of any server in it, reused by every new state folder, and Prefect's own migration
wherever the template cannot serve (an older database, an unwritable cache)."""

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL, temporary_settings

from pipelines.framework.config.settings import Settings
from pipelines.framework.stack import database
from pipelines.framework.stack.security import encryption_key
from pipelines.framework.stack.server import (
    free_port,
    launch_server,
    server_environment,
    start_server,
    stop_process_group,
)

pytestmark = [pytest.mark.component, pytest.mark.e2e]  # each test starts servers: slow


def _settings(home: Path, cache: Path) -> Settings:
    return Settings(home=home, cache_dir=cache, server_start_timeout=540)


def _schema(path: Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Every table, index and trigger with its SQL, line by line; a table's constraints in name
    order: alembic rebuilds SQLite tables from reflected constraints in no fixed order, so two
    real migrations list them differently."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        rows = connection.execute(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
    return sorted((kind, name, table, _lines(sql)) for kind, name, table, sql in rows)


def _lines(sql: str) -> tuple[str, ...]:
    lines = [line.strip().rstrip(",").strip() for line in sql.splitlines()]
    constraints = sorted(line for line in lines if line.startswith("CONSTRAINT "))
    return (*(line for line in lines if not line.startswith("CONSTRAINT ")), *constraints)


def _revision(path: Path) -> list[tuple[str]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchall()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache with the template built by a first server start (stopped)."""
    cache = tmp_path_factory.mktemp("cache")
    state = start_server(
        _settings(tmp_path_factory.mktemp("first"), cache), "127.0.0.1", free_port()
    )
    stop_process_group(state.pid)
    return cache


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A database migrated by Prefect's own `prefect server database upgrade`."""
    home = tmp_path_factory.mktemp("migrated")
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
    command = [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=540)
    return home / "prefect.db"


def _template(cache: Path) -> Path:
    return database.template_dir(Settings(cache_dir=cache), database.build_key()) / "prefect.db"


def test_the_template_has_the_schema_and_revision_of_a_really_migrated_database(cache, migrated):
    template = _template(cache)
    assert _schema(template) == _schema(migrated)
    assert _revision(template) == _revision(migrated)


def test_the_template_holds_no_key_no_secret_nothing_of_any_run(cache, tmp_path):
    settings = _settings(tmp_path / "home", cache)
    state = start_server(settings, "127.0.0.1", free_port())
    try:
        with temporary_settings(updates={PREFECT_API_URL: state.url}):
            Secret(value="s3cr3t-value").save("template-probe")  # pragma: allowlist secret
    finally:
        stop_process_group(state.pid)
    template = _template(cache)
    database.check_template(template)  # no rows in configuration, runs, blocks, deployments...
    content = template.read_bytes()
    assert encryption_key(settings).encode() not in content
    assert b"template-probe" not in content


def test_a_new_state_folder_is_a_copy_that_serves_without_migrating_again(cache, tmp_path):
    before = sorted(cache.iterdir())
    settings = _settings(tmp_path / "home", cache)
    started = time.monotonic()
    launch = launch_server(settings, "127.0.0.1", free_port())
    launched_in = time.monotonic() - started
    state = launch.wait()
    try:
        home = settings.home / "prefect"
        assert database.is_up_to_date(home, database.build_key())
        assert _schema(home / "prefect.db") == _schema(_template(cache))
        with temporary_settings(updates={PREFECT_API_URL: state.url}):
            Secret(value="kept").save("copied-database")  # block types are there
            assert Secret.load("copied-database").get() == "kept"
    finally:
        stop_process_group(state.pid)
    assert sorted(cache.iterdir()) == before  # built once, by the first start
    assert launched_in < 1.0  # returns at once: the caller works while the server boots


def test_a_database_of_another_key_is_brought_up_to_date_by_prefect_and_marked(cache, tmp_path):
    settings = _settings(tmp_path / "home", cache)
    home = settings.home / "prefect"
    home.mkdir(parents=True)
    shutil.copy2(_template(cache), home / "prefect.db")
    database.mark_up_to_date(home, "prefect==3.0.0")  # e.g. made before Prefect was upgraded
    env = server_environment(settings)
    assert not any(env.get(name) == value for name, value in database.UP_TO_DATE.items())
    state = start_server(settings, "127.0.0.1", free_port())
    stop_process_group(state.pid)
    assert database.is_up_to_date(home, database.build_key())


def test_an_unwritable_cache_leaves_the_migration_to_prefect(tmp_path, migrated):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache would go")
    settings = _settings(tmp_path / "home", not_a_folder)
    state = start_server(settings, "127.0.0.1", free_port())
    stop_process_group(state.pid)
    assert _revision(settings.home / "prefect" / "prefect.db") == _revision(migrated)


def test_a_template_with_anything_in_it_is_refused(cache, tmp_path):
    copy = tmp_path / "copy.db"
    shutil.copy2(_template(cache), copy)
    with closing(sqlite3.connect(copy)) as connection, connection:
        connection.execute(
            "INSERT INTO configuration (id, key, value) VALUES ('x', 'ENCRYPTION_KEY', '{}')"
        )
    with pytest.raises(database.TemplateError, match="configuration"):
        database.check_template(copy)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(database.TemplateError, match="not a migrated"):
        database.check_template(empty)
