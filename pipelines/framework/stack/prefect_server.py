"""
`python -m pipelines.framework.stack.prefect_server server start ...`: Prefect's own CLI, with its
SQLite write transactions opened as `BEGIN IMMEDIATE`.

Why: Prefect opens them as DEFERRED. One that has read, then writes after another connection
committed (the event persister flushes every few seconds), cannot be upgraded: SQLite answers
"database is locked" at once, without waiting out its busy timeout. The API turns that into a
503 and Prefect's client sleeps 2 s before it retries, every few deployments of a registration
and in any flow run's or worker's writes: 2 s stalls in a server otherwise idle. Taking the write
lock at BEGIN makes the second writer wait for the first instead, the fix SQLite documents for
read-then-write transactions. Readers are never blocked (WAL); PostgreSQL is not touched.

The objects of its imports are frozen before it serves: its collector then never scans them
again, and every request allocates many (SQLAlchemy's ORM), so full collections came often.
"""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import prefect.server.api.server  # noqa: F401  # the app's modules, loaded before the freeze
from prefect.cli import app
from prefect.server.database.configurations import SQLITE_BEGIN_MODE, AioSqliteConfiguration
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction


@asynccontextmanager
async def _begin_immediate(
    self: AioSqliteConfiguration,  # pylint: disable=unused-argument
    session: AsyncSession,
    with_for_update: bool = False,  # pylint: disable=unused-argument
) -> AsyncIterator[AsyncSessionTransaction]:
    """Prefect's `begin_transaction` for SQLite, IMMEDIATE whether or not the caller asked."""
    token = SQLITE_BEGIN_MODE.set("IMMEDIATE")
    try:
        async with session.begin() as transaction:
            yield transaction
    finally:
        SQLITE_BEGIN_MODE.reset(token)


def take_write_lock_at_begin() -> None:
    AioSqliteConfiguration.begin_transaction = _begin_immediate  # type: ignore[method-assign]


def freeze_imports() -> None:
    """Collect once, then keep what the imports made out of every later collection (a
    deployment's creation took 7% less of the server's time)."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    take_write_lock_at_begin()
    freeze_imports()
    app()
