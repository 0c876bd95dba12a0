"""One flows module that does not import blocks nothing: `register`, `flows` and `run` name it
(file:line, the error) and go on with the other flows; its deployment is kept, not paused."""

import json

import pytest

from tests.conftest import run_pipelines
from tests.support.prefect_api import client_for

pytestmark = pytest.mark.e2e
TUTORIAL = "EMD: escritorio - Users report"
TUTORIAL_FLOWS = "pipelines/rj_escritorio/tutorial/flows.py"


def _register(env, cwd):
    result = run_pipelines("register", "--env", "staging", "--json", env=env, cwd=cwd)
    return result, {o["flow"]: o for o in json.loads(result.stdout)}


def _break_the_repository(repo) -> None:
    """The tutorial's flows.py stops parsing; a new project needs a package nobody installed."""
    flows = repo / TUTORIAL_FLOWS
    flows.write_text(flows.read_text() + "\ndef broken(:\n")
    project = repo / "pipelines" / "rj_escritorio" / "sem_pacote"
    project.mkdir()
    (project / "__init__.py").touch()
    (project / "flows.py").write_text('"""Needs a package."""\nimport pacote_inexistente\n')


def test_a_broken_module_is_reported_and_its_deployment_kept(cli_env, repo_copy, prefect_api):
    first, before = _register(cli_env, repo_copy)
    assert first.returncode == 0, first.stderr
    assert before[TUTORIAL]["action"] in {"created", "updated", "skipped"}
    _break_the_repository(repo_copy)

    result, after = _register(cli_env, repo_copy)

    assert result.returncode == 1
    line = len((repo_copy / TUTORIAL_FLOWS).read_text().splitlines())
    where = f"{TUTORIAL_FLOWS}:{line}: pipelines.rj_escritorio.tutorial.flows does not import"
    assert f"{where}: SyntaxError: " in result.stderr
    assert "sem_pacote/flows.py:2: " in result.stderr
    assert "No module named 'pacote_inexistente'" in result.stderr
    assert after[TUTORIAL]["action"] == "kept"
    assert after["pipelines.rj_escritorio.tutorial.flows"]["action"] == "failed"
    others = {name for name in before if name != TUTORIAL}
    assert {after[name]["action"] for name in others} == {"skipped"}
    with client_for(prefect_api) as client:
        assert not client.read_deployment(_deployment_id(client, TUTORIAL)).paused


def _deployment_id(client, flow_name: str):
    [deployment] = [
        d
        for d in client.read_deployments()
        if "env:staging" in d.tags and client.read_flow(d.flow_id).name == flow_name
    ]
    return deployment.id


def test_flows_and_run_go_on_past_a_broken_module(cli_env, repo_copy):
    _break_the_repository(repo_copy)

    listed = run_pipelines("flows", "--json", env=cli_env, cwd=repo_copy)
    ran = run_pipelines("run", "Dump exemplo", "-p", "no_such=1", env=cli_env, cwd=repo_copy)

    assert listed.returncode == 1
    names = {flow["name"] for flow in json.loads(listed.stdout)}
    assert "EMD: escritorio - Dump exemplo" in names and TUTORIAL not in names
    assert f"error: {TUTORIAL_FLOWS}:" in listed.stderr
    assert ran.returncode == 2  # got past discovery to the parameter check
    assert f"warning: {TUTORIAL_FLOWS}:" in ran.stderr
    assert "has no parameter 'no_such'" in ran.stderr
