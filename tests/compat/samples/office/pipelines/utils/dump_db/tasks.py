# -*- coding: utf-8 -*-
"""
Tasks of the generic dump flow.
"""

from datetime import timedelta

from prefect import task

from pipelines.utils.utils import log


@task(max_retries=1, retry_delay=timedelta(seconds=0))
def read_rows(table_id: str, batch_size: int):
    """
    Pretends to read a table in batches.
    """
    log(f"reading {table_id} in batches of {batch_size}")
    return [f"{table_id}-{i}" for i in range(3)]


@task
def count_rows(rows: list) -> int:
    """
    Counts the rows read.
    """
    return len(rows)
