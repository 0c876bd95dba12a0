"""The local server's SQLite write transactions take the write lock at BEGIN: one that reads, then
writes after another writer committed, waits for it instead of failing with "database is locked"
(a 503 that Prefect's client sleeps 2 s on). Prefect's own database configuration, a real file."""

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.server.database.configurations import AioSqliteConfiguration
from sqlalchemy.exc import OperationalError

from pipelines.framework.stack.prefect_server import take_write_lock_at_begin

pytestmark = pytest.mark.component


async def _read_then_write_while_another_writes(path: Path) -> list[str]:
    """The rows written by a transaction that reads, pauses while a second transaction writes,
    then writes; the second's row too. Raises what SQLite raised."""
    config = AioSqliteConfiguration(connection_url=f"sqlite+aiosqlite:///{path}")
    engine = await config.engine()
    async with engine.begin() as connection:
        await connection.execute(sa.text("CREATE TABLE runs (who TEXT)"))
    has_read = asyncio.Event()

    async def reads_then_writes() -> None:
        session = await config.session(engine)
        async with session, config.begin_transaction(session):
            await session.execute(sa.text("SELECT count(*) FROM runs"))
            has_read.set()
            await asyncio.sleep(0.3)  # the other writer commits meanwhile, or waits for us
            await session.execute(sa.text("INSERT INTO runs VALUES ('first')"))

    async def writes() -> None:
        await has_read.wait()
        session = await config.session(engine)
        async with session, config.begin_transaction(session):
            await session.execute(sa.text("INSERT INTO runs VALUES ('second')"))

    try:
        await asyncio.gather(reads_then_writes(), writes())
        async with engine.connect() as connection:
            rows = await connection.execute(sa.text("SELECT who FROM runs ORDER BY who"))
            return [row.who for row in rows]
    finally:
        await engine.dispose()


def test_prefects_deferred_transactions_fail_when_another_writer_commits_first(tmp_path):
    """Why the server needs the change: Prefect 3.9's own behaviour (if this stops failing,
    Prefect fixed it and prefect_server.py can go)."""
    with pytest.raises(OperationalError, match="database is locked"):
        asyncio.run(_read_then_write_while_another_writes(tmp_path / "prefect.db"))


def test_the_servers_transactions_wait_for_each_other_and_both_land(tmp_path, monkeypatch):
    monkeypatch.setattr(  # undone after the test: the change is the server process's alone
        AioSqliteConfiguration, "begin_transaction", AioSqliteConfiguration.begin_transaction
    )
    take_write_lock_at_begin()

    assert asyncio.run(_read_then_write_while_another_writes(tmp_path / "prefect.db")) == [
        "first",
        "second",
    ]
