"""Every deployment the repository would register, rendered offline and compared with a reviewed
snapshot. After an intended change, run this file with `UPDATE_SNAPSHOTS=1` and review the diff
of tests/snapshots/deployments.json."""

import json
import os
from pathlib import Path

import pytest

from pipelines.framework.config.environments import ENVIRONMENTS, Environment
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.deploy.registration import DeploymentSpec, plan
from pipelines.framework.runtime.flows import instantiate
from pipelines.utils.dump_db.flows import dump_db

SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "deployments.json"


def render_all() -> dict:
    return {
        env: [spec.render().as_dict() for spec in plan(Environment(env))] for env in ENVIRONMENTS
    }


def test_deployments_match_the_reviewed_snapshot():
    rendered = json.loads(json.dumps(render_all(), default=str))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n")
    assert rendered == json.loads(SNAPSHOT.read_text())


def test_staging_and_prod_never_share_a_queue_or_a_deployment():
    staging, prod = plan(Environment("staging")), plan(Environment("prod"))
    for s, p in zip(staging, prod, strict=True):
        assert s.render().work_queue != p.render().work_queue
        assert s.render().deployment != p.render().deployment
        assert "env:staging" in s.render().tags  # what names a run's environment


@pytest.mark.parametrize(
    ("options", "concurrency"),
    [
        ({}, {"limit": 1, "collision_strategy": "ENQUEUE"}),
        ({"concurrency_limit": 3}, {"limit": 3, "collision_strategy": "ENQUEUE"}),
        ({"concurrency_limit": None}, None),
        ({"skip_if_running": True}, {"limit": 1, "collision_strategy": "CANCEL_NEW"}),
    ],
)
def test_a_dump_copy_queues_its_runs_one_at_a_time_unless_told_otherwise(options, concurrency):
    copy = instantiate(dump_db, "TST: testes - Dump tabela", code_owners=["paty"], **options)
    info = FlowInfo(copy, "pipelines.rj_teste.dump_tabela.flows", "dump_tabela")
    assert (
        DeploymentSpec(info, Environment("prod")).render().as_dict()["concurrency"] == concurrency
    )
