"""`pipelines register` on a copy of the repository against a real server: unchanged flows are
skipped, a shared helper re-registers exactly the flows that import it, deleted flows are paused,
deployments are named for their flow and environment (an older name is replaced), and a backfill
asked twice creates its runs once."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from pipelines.framework.config import Environment
from pipelines.framework.deploy import deployment_name
from tests.conftest import run_pipelines
from tests.support.prefect_api import client_for

TUTORIAL = "EMD: escritorio - Users report"
NEW = "SMTR: smtr - onibus example"


pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("empty_server")]


def named(flow: str, env: str) -> str:
    """`flow/deployment`, as the client reads a deployment by name."""
    return f"{flow}/{deployment_name(flow, Environment(env))}"


def register(env, cwd, *extra) -> dict[str, str]:
    result = run_pipelines("register", "--env", "staging", "--json", *extra, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return {o["flow"]: o["action"] for o in json.loads(result.stdout)}


EXPECTED_AFTER_HTTP_EDIT = """
import json
from pipelines.framework.deploy.code_closure import module_closure
from pipelines.framework.deploy.discovery import discover_flows
print(json.dumps({
    f.name: "updated" if "pipelines.utils.http" in module_closure(f.module) else "skipped"
    for f in discover_flows()
}))
"""


def expected_after_http_edit(repo) -> dict[str, str]:
    """'updated' for each flow whose code closure holds pipelines/utils/http.py, else 'skipped'."""
    probe = subprocess.run(
        [sys.executable, "-c", EXPECTED_AFTER_HTTP_EDIT],
        env={"PYTHONPATH": str(repo)},
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(probe.stdout.strip().splitlines()[-1])


def test_register_skips_unchanged_updates_importers_and_pauses_deleted(
    cli_env, repo_copy, prefect_api
):
    assert run_pipelines("new", "rj_smtr", "onibus", env=cli_env, cwd=repo_copy).returncode == 0

    first = register(cli_env, repo_copy, "--dry-run")
    assert set(first.values()) == {"created"} and {TUTORIAL, NEW} <= set(first)
    assert register(cli_env, repo_copy) == first
    assert set(register(cli_env, repo_copy).values()) == {"skipped"}

    http_helper = repo_copy / "pipelines" / "utils" / "http.py"  # the new project doesn't import it
    http_helper.write_text(http_helper.read_text() + "\n# a change to a shared helper\n")
    after_edit = register(cli_env, repo_copy)
    assert after_edit[TUTORIAL] == "updated"
    assert after_edit[NEW] == "skipped"
    assert after_edit == expected_after_http_edit(repo_copy)

    shutil.rmtree(repo_copy / "pipelines" / "rj_smtr")
    after_delete = register(cli_env, repo_copy)
    assert after_delete[NEW] == "paused"
    assert {a for f, a in after_delete.items() if f != NEW} == {"skipped"}
    with client_for(prefect_api) as client:
        deployment = client.read_deployment_by_name(named(NEW, "staging"))
        assert deployment.paused
        future = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
        )
        assert future == []
        tutorial = client.read_deployment_by_name(named(TUTORIAL, "staging"))
        assert tutorial.name == "EMD: escritorio - Users report (staging)"
        assert tutorial.work_queue_name == "staging"
        assert tutorial.job_variables == {}  # its worker names the run's environment from its tag
        assert {"env:staging", "orgao:rj_escritorio", "project:tutorial", "owner:paty"} <= set(
            tutorial.tags
        )
    assert NEW not in register(cli_env, repo_copy)  # paused once, reported once


def test_the_uploaded_code_is_what_the_deployment_runs(
    cli_env, repo_copy, prefect_api, prefect_home
):
    register(cli_env, repo_copy)
    with client_for(prefect_api) as client:
        deployment = client.read_deployment_by_name(named(TUTORIAL, "staging"))
    [[(step, arguments)]] = [step.items() for step in deployment.pull_steps]
    assert step == "prefect.deployments.steps.set_working_directory"
    code_dir = arguments["directory"]
    assert code_dir.startswith(str(prefect_home / "storage" / "code" / "staging"))
    assert deployment.version in code_dir
    stored = Path(code_dir) / "pipelines/rj_escritorio/tutorial/tasks.py"
    assert stored.read_text(encoding="utf-8") == (
        repo_copy / "pipelines/rj_escritorio/tutorial/tasks.py"
    ).read_text(encoding="utf-8")


def test_prod_dry_run_shows_what_would_be_created_and_creates_nothing(
    cli_env, repo_copy, prefect_api
):
    result = run_pipelines("register", "--env", "prod", "--dry-run", env=cli_env, cwd=repo_copy)
    assert result.returncode == 0, result.stderr
    assert "would register in prod" in result.stdout
    assert TUTORIAL in result.stdout
    with client_for(prefect_api) as client:
        names = {d.name for d in client.read_deployments()}
    assert not [name for name in names if name == "prod" or name.endswith("(prod)")]


def test_a_deployment_under_the_old_name_is_replaced_by_the_flow_and_environment_name(
    cli_env, repo_copy, prefect_api
):
    with client_for(prefect_api) as client:  # as registration named deployments before
        flow_id = client.create_flow_from_name(TUTORIAL)
        client.create_deployment(
            flow_id=flow_id, name="local", tags=["pipelines", "env:local"], entrypoint="x:y"
        )
    result = run_pipelines("register", "--env", "local", "--json", env=cli_env, cwd=repo_copy)
    assert result.returncode == 0, result.stderr
    tutorial = next(o for o in json.loads(result.stdout) if o["flow"] == TUTORIAL)
    assert tutorial["action"] in ("updated", "skipped"), tutorial  # skipped: registered before
    with client_for(prefect_api) as client:
        names = {d.name for d in client.read_deployments() if d.flow_id == flow_id}
    assert "local" not in names
    assert "EMD: escritorio - Users report (local)" in names


BACKFILL = ("--start", "2024-01-01T00:00-03:00", "--end", "2024-01-02T23:59-03:00")


def test_a_backfill_asked_twice_creates_its_runs_once_and_says_so(cli_env, repo_copy):
    register(cli_env, repo_copy)
    args = ("backfill", "Users report", *BACKFILL, "--env", "staging")
    dry = run_pipelines(*args, "--dry-run", env=cli_env, cwd=repo_copy)
    assert dry.returncode == 0, dry.stderr
    assert "would backfill in staging" in dry.stdout
    first = run_pipelines(*args, env=cli_env, cwd=repo_copy)
    assert first.returncode == 0, first.stderr
    assert "backfilled in staging" in first.stdout
    assert f"created 2 new run(s) of {TUTORIAL!r} in staging" in first.stdout
    second = run_pipelines(*args, env=cli_env, cwd=repo_copy)
    assert second.returncode == 0, second.stderr
    assert f"created 0 new run(s) of {TUTORIAL!r} in staging; 2 already there" in second.stdout
    assert second.stdout.count("already there") == 3  # each run's row, and the summary


def test_without_env_every_command_acts_in_local_whatever_the_branch(cli_env, repo_copy):
    env = {**cli_env, "GITHUB_REF_NAME": "main"}
    env.pop("PIPELINES_ENV", None)
    result = run_pipelines("register", "--dry-run", env=env, cwd=repo_copy)
    assert result.returncode == 0, result.stderr
    assert "would register in local" in result.stdout
    backfill = run_pipelines("backfill", "Users report", *BACKFILL, "--dry-run", env=env)
    assert "would backfill in local" in backfill.stdout
    staged = run_pipelines(
        "register", "--dry-run", env={**env, "PIPELINES_ENV": "staging"}, cwd=repo_copy
    )
    assert "would register in staging" in staged.stdout
