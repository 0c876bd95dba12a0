"""
The local server's SQLite database, copied from a template instead of built at its first start.

A new Prefect database runs the whole alembic history and registers the block types of Prefect
and of every installed collection when its server first starts; later starts check both again
(importing every collection, prefect-kubernetes and prefect-dask here, to hash their block
types). That is most of a cold start. What the database holds then follows from two things alone,
its `build_key`: Prefect's version (the migrations) and the installed collections (the block
types). So:

- the template is made once per key by Prefect itself: a server started with no services on a
  scratch folder, with a throwaway encryption key, never called, stopped. It holds the schema,
  its alembic stamp and the block types: no key, no secret, nothing of any run
  (`check_template` refuses one that does). It is kept under `Settings.cache_dir`;
- a new state folder gets a copy (SQLite's backup API), marked with the key;
- a server whose database is marked with the current key skips the migrations and the block
  registration (their result is there already); any other (an upgraded Prefect, a new
  collection, a database from before this) runs them as Prefect does and is marked once healthy.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic-settings (0.1 s): `pipelines status` reads the state folder without it
    from pipelines.framework.config import Settings


DATABASE_FILE = "prefect.db"
KEY_FILE = "pipelines-database-key"
"""Beside the database: the `build_key` it was last brought up to date with."""
UP_TO_DATE = {
    "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",  # else it imports every collection
}
"""Server settings for a database already at the current key: nothing to migrate or register."""
EMPTY_TABLES = (
    "flow_run",
    "task_run",
    "deployment",
    "block_document",
    "variable",
    "automation",
    "work_pool",
    "log",
    "events",
    "configuration",
)
"""Tables a template leaves empty: it is what Prefect builds before any client called it (the
configuration table is where Prefect would keep an encryption key of its own)."""


class TemplateError(RuntimeError):
    """A template that is not a pristine migrated database."""


def build_key() -> str:
    """What a migrated database with registered block types follows from: Prefect's version and
    the installed Prefect collections (read from package metadata, nothing imported)."""
    collections = sorted(
        f"{point.dist.name}=={point.dist.version}"
        for point in entry_points(group="prefect.collections")
        if point.dist is not None
    )
    return ";".join([f"prefect=={version('prefect')}", *collections])


def template_dir(settings: Settings, key: str) -> Path:
    """Where the template of `key` is kept."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.cache_dir / f"prefect-{version('prefect')}-{digest}"


def is_up_to_date(prefect_home: Path, key: str) -> bool:
    """True when the database in `prefect_home` was brought up to date with `key`."""
    try:
        marked = (prefect_home / KEY_FILE).read_text(encoding="utf-8")
    except OSError:
        return False
    return marked == key and (prefect_home / DATABASE_FILE).is_file()


def mark_up_to_date(prefect_home: Path, key: str) -> None:
    (prefect_home / KEY_FILE).write_text(key, encoding="utf-8")


def check_template(database: Path) -> None:
    """Refuse a database that is not migrated, or holds a key or anything a client made."""
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            if not connection.execute("SELECT version_num FROM alembic_version").fetchone():
                raise TemplateError(f"{database} has no alembic revision")
            for table in EMPTY_TABLES:
                if connection.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                    raise TemplateError(f"{database} is not empty: its {table} table has rows")
    except sqlite3.Error as exc:  # a table missing: not a database Prefect migrated
        raise TemplateError(f"{database} is not a migrated Prefect database: {exc}") from exc


@contextmanager
def building(settings: Settings, key: str) -> Iterator[Path | None]:
    """A scratch folder for the caller to build the template of `key` in (Prefect's database
    file there), checked and published when the block ends; None when another process built
    it meanwhile."""
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.cache_dir / ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two first starts build it once
        if (template_dir(settings, key) / DATABASE_FILE).is_file():
            yield None
            return
        scratch = settings.cache_dir / f".building-{uuid.uuid4().hex}"
        scratch.mkdir()
        try:
            yield scratch
            published = scratch / "template"
            published.mkdir()
            _backup(scratch / DATABASE_FILE, published / DATABASE_FILE)
            check_template(published / DATABASE_FILE)
            published.rename(template_dir(settings, key))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def seed(settings: Settings, prefect_home: Path, key: str) -> bool:
    """Copy the template of `key` into `prefect_home`, which has no database yet; False when
    there is no template."""
    source = template_dir(settings, key) / DATABASE_FILE
    if not source.is_file():
        return False
    prefect_home.mkdir(parents=True, exist_ok=True)
    partial = prefect_home / f".{DATABASE_FILE}.partial"
    _backup(source, partial)
    partial.rename(prefect_home / DATABASE_FILE)
    mark_up_to_date(prefect_home, key)
    return True


def _backup(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite database (its write-ahead log included), in one file:
    rollback journal, which Prefect's server turns back to WAL when it connects."""
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as reading,
        closing(sqlite3.connect(target)) as writing,
    ):
        reading.backup(writing)
        writing.execute("PRAGMA journal_mode = DELETE")
