"""A registered flow runs on the local process worker as it was registered: its code imported
from the folder registration uploaded (not from the checkout, edited since), in the environment
it was registered in, with no job variables on its deployment (nothing for the server to
validate against the pool's template)."""

import json

import pytest

from pipelines.framework.config import Environment, Settings
from pipelines.framework.deploy import deployment_name
from pipelines.framework.stack.services import start_worker, stop_worker
from tests.conftest import run_pipelines
from tests.support.prefect_api import client_for, wait_for_final_state

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("empty_server")]
LABEL = "rj-escritorio-dev"  # constants.DEFAULT_AGENT_LABEL: an unscheduled flow's pool
FLOW = "TESTE: teste - Onde roda"
PROBE = '''"""Where a registered flow runs."""

import json
from pathlib import Path

from pipelines.framework.config import current_environment
from pipelines.framework.runtime import flow


@flow(name="TESTE: teste - Onde roda", code_owners=["pipeliners"])
def onde_roda(output_path: str) -> str:
    """Escreve o arquivo deste módulo e o ambiente da execução."""
    found = {"module": __file__, "env": current_environment().name}
    Path(output_path).write_text(json.dumps(found), encoding="utf-8")
    return output_path
'''


def test_a_registered_flow_runs_its_uploaded_code_in_its_environment(
    cli_env, repo_copy, prefect_api, prefect_home, tmp_path, monkeypatch
):
    project = repo_copy / "pipelines" / "rj_teste" / "onde_roda"
    project.mkdir(parents=True)
    for package in (project.parent, project):
        (package / "__init__.py").write_text("", encoding="utf-8")
    (project / "flows.py").write_text(PROBE, encoding="utf-8")
    registered = run_pipelines("register", "--env", "staging", env=cli_env, cwd=repo_copy)
    assert registered.returncode == 0, registered.stderr + registered.stdout
    (project / "flows.py").write_text("raise RuntimeError('edited after registration')\n")

    # a worker beside the checkout, the checkout on its path, and no environment of its own
    monkeypatch.chdir(repo_copy)
    monkeypatch.setenv("PYTHONPATH", str(repo_copy))
    monkeypatch.delenv("PIPELINES_ENV", raising=False)
    worker = start_worker(Settings(home=prefect_home), prefect_api, LABEL, Environment("staging"))
    try:
        with client_for(prefect_api) as client:
            deployment = client.read_deployment_by_name(
                f"{FLOW}/{deployment_name(FLOW, Environment('staging'))}"
            )
            report = tmp_path / "onde.json"
            run = client.create_flow_run_from_deployment(
                deployment.id, parameters={"output_path": str(report)}
            )
            finished = wait_for_final_state(client, run.id, timeout=240)
    finally:
        stop_worker(worker)

    assert finished.state.is_completed(), finished.state
    assert deployment.job_variables == {}
    found = json.loads(report.read_text(encoding="utf-8"))
    code = prefect_home / "storage" / "code" / "staging" / deployment.version
    assert found["module"] == str(code / "pipelines/rj_teste/onde_roda/flows.py")
    assert found["env"] == "staging"
