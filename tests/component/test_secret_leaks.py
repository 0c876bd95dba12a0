"""A flow that logs, prints and raises a secret value: the value appears nowhere.

Checked: every log line the server stored for the run (flow and task), the failed states'
messages (flow and task runs, as the server holds them), the exception the caller gets, and what
the process wrote to its stdout/stderr. Prefect Secret blocks are read from the real server.
"""

import asyncio
import json
import time
import uuid

import pytest
from prefect import get_client, task
from prefect.blocks.system import Secret
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

from pipelines.framework.config.settings import Settings
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.secrets import masking
from pipelines.framework.secrets.store import (
    SecretNotFoundError,
    block_name,
    read_secret,
    run_cache,
)
from pipelines.framework.stack.local_run import run_flow
from pipelines.utils.secrets import get_secret
from pipelines.utils.utils import log

pytestmark = pytest.mark.component
PASSWORD = f"S3nh@%/ultra-{uuid.uuid4().hex[:12]}"
SECRET_PATH = f"teste/vazamento-{uuid.uuid4().hex[:6]}"


@task
def connect(path: str) -> None:
    password = get_secret(path)["password"]
    log(f"task connecting with password={password}")
    print(f"task printed {password}")
    raise ConnectionError(f"login refused for password {password} (user sme)")


@pytest.fixture(scope="module")
def stored_secret(prefect_api):
    Secret(value={"username": "sme", "password": PASSWORD}).save(
        block_name(SECRET_PATH), overwrite=True
    )
    yield SECRET_PATH
    masking.forget_secrets()


def leaky_flow_factory():
    from pipelines.framework.runtime.flows import flow

    @flow("TST: teste - vazamento", code_owners=["paty"], log_prints=True)
    def leaky(path: str) -> None:
        secret = get_secret(path)
        log(f"flow sees {secret}")
        print("flow printed", secret["password"])
        connect(path)

    return leaky


def stored_logs(flow_run_id) -> list[str]:
    APILogHandler().flush()
    deadline = time.monotonic() + 20
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                limit=200,
            )
            messages = [entry.message for entry in logs]
            if any("Finished in state Failed" in m and "Flow run" in m for m in messages):
                return messages
            if any(m.startswith("Finished in state") for m in messages) and len(messages) > 8:
                return messages
            if time.monotonic() > deadline:
                return messages
            time.sleep(0.5)


def run_messages(flow_run_id) -> list[str]:
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return [flow_run.state.message or ""] + [(t.state.message or "") for t in task_runs]


def test_prefect_secret_blocks_are_read_from_the_server(stored_secret):
    assert read_secret(stored_secret) == {"username": "sme", "password": PASSWORD}


def test_a_missing_block_falls_through_to_env_then_is_a_clear_error(prefect_api):
    with pytest.raises(SecretNotFoundError, match="backends tried: prefect, env"):
        read_secret("no/such/secret", Settings())


def test_a_secret_logged_printed_and_raised_never_leaves_the_process(stored_secret, capfd):
    leaky = leaky_flow_factory()
    info = FlowInfo(flow=leaky, module=__name__, attribute="leaky")
    outcome = run_flow(info, {"path": stored_secret})
    captured = capfd.readouterr()
    assert not outcome.ok
    flow_run_id = outcome.state.state_details.flow_run_id
    error = outcome.state.result(raise_on_failure=False)
    logs = stored_logs(flow_run_id)
    states = run_messages(flow_run_id)

    assert any("task connecting with password=****" in m for m in logs), logs
    assert any("flow printed ****" in m for m in logs), logs
    assert "login refused for password **** (user sme)" in str(error)
    assert any("ConnectionError: login refused for password ****" in m for m in states), states
    assert outcome.failed_task == "connect"
    outputs = [outcome.reason, captured.out, captured.err]
    everything = [*logs, *states, str(error), repr(error), *outputs]
    leaks = [text for text in everything if PASSWORD in (text or "")]
    assert leaks == []
    for form in (json.dumps(PASSWORD)[1:-1], PASSWORD.replace("%", "%25").replace("/", "%2F")):
        assert all(form not in (text or "") for text in everything)


def test_values_are_cached_for_the_run_only(stored_secret):
    from pipelines.framework.runtime.flows import flow

    @flow("TST: teste - cache", code_owners=["paty"])
    def reads_twice(path: str) -> tuple[str, str]:
        first = get_secret(path)["password"]
        Secret(value={"username": "sme", "password": "rotated-" + PASSWORD}).save(
            block_name(path), overwrite=True
        )
        return first, get_secret(path)["password"]

    try:
        assert reads_twice(stored_secret) == (PASSWORD, PASSWORD)
        assert reads_twice(stored_secret)[0] == "rotated-" + PASSWORD  # a new run reads again
    finally:
        Secret(value={"username": "sme", "password": PASSWORD}).save(
            block_name(stored_secret), overwrite=True
        )
        run_cache.clear()


def test_an_async_flow_reads_secrets_too(stored_secret):
    from pipelines.framework.runtime.flows import flow

    @flow("TST: teste - assincrono", code_owners=["paty"])
    async def reads_async(path: str) -> str:
        return get_secret(path)["username"]

    assert asyncio.run(reads_async(stored_secret)) == "sme"
