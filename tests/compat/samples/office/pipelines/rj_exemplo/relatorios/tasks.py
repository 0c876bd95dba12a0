# -*- coding: utf-8 -*-
"""
Tasks for the relatorios project.
"""

import prefect
from prefect import task
from prefect.client import Client
from prefect.backend import FlowRunView


@task
def rename_current_flow_run(prefix: str, table_id: str) -> None:
    """
    Renames the current flow run.
    """
    flow_run_id = prefect.context.get("flow_run_id")
    client = Client()
    client.set_flow_run_name(flow_run_id, f"{prefix}{table_id}")


@task
def get_current_flow_labels() -> list:
    """
    Get the labels of the current flow.
    """
    flow_run_id = prefect.context.get("flow_run_id")
    flow_run_view = FlowRunView.from_flow_run_id(flow_run_id)
    return flow_run_view.labels
