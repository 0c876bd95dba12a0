# -*- coding: utf-8 -*-
"""
Helper tasks that could fit any pipeline.
"""

import prefect
from prefect import task

from pipelines.utils.utils import log


@prefect.task(checkpoint=False)
def log_task(msg, level: str = "info", wait=None):
    """
    A task that logs a message.
    """
    log(msg=msg, level=level)


@task(checkpoint=False, nout=2)
def split_pair(text: str, wait=None):
    """
    Splits "a:b" into ("a", "b").
    """
    first, second = text.split(":")
    return first, second
