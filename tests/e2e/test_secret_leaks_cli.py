"""`pipelines run` on a flow that logs, prints and raises a secret: the value is in no output line
and in no log line the server stored for the run."""

import json
import subprocess
import textwrap
import uuid

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, LogFilter, LogFilterFlowRunId
from prefect.client.schemas.sorting import FlowRunSort

from tests.conftest import pipelines_command

pytestmark = pytest.mark.e2e
PASSWORD = "Cli-S3nh@-" + uuid.uuid4().hex[:12]
FLOW_NAME = "TST: teste - vazamento pela CLI"

FLOWS = textwrap.dedent(
    f'''
    """A flow that does everything it should not with a password."""

    from prefect import task

    from pipelines.framework.runtime.flows import flow
    from pipelines.utils.secrets import get_credentials
    from pipelines.utils.utils import log


    @task
    def connect(path: str) -> None:
        user, password = get_credentials(path)
        log(f"connecting as {{user}} with {{password}}")
        print("task printed", password)
        raise PermissionError(f"login {{user}}:{{password}} refused")


    @flow({FLOW_NAME!r}, code_owners=["paty"])
    def leaky(path: str = "teste/cli") -> None:
        _, password = get_credentials(path)
        print("flow printed", password)
        connect(path)
    '''
)


def test_cli_output_and_stored_logs_never_show_the_secret(cli_env, repo_copy):
    project = repo_copy / "pipelines" / "rj_teste" / "vazamento"
    project.mkdir(parents=True)
    (project.parent / "__init__.py").write_text("")
    (project / "__init__.py").write_text("")
    (project / "flows.py").write_text(FLOWS)
    env = {
        **cli_env,
        "PYTHONPATH": str(repo_copy),
        "PIPELINES_SECRET_TESTE_CLI": json.dumps({"username": "sme", "password": PASSWORD}),
    }
    result = subprocess.run(
        [*pipelines_command(), "run", FLOW_NAME],
        env=env,
        cwd=repo_copy,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "failed in task 'connect'" in result.stderr
    assert "login sme:**** refused" in result.stderr.strip().splitlines()[-1]
    assert "flow printed ****" in output
    assert PASSWORD not in output

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[runs[0].id])), limit=200
        )
    messages = [entry.message for entry in logs]
    assert any("connecting as sme with ****" in m for m in messages), messages
    assert all(PASSWORD not in m for m in messages)
    assert PASSWORD not in (runs[0].state.message or "")
