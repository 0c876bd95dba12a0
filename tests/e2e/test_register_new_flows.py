"""New flows are registered while the next ones are imported (the first write does not wait for
every module of a large repository), and a flow whose label cannot run in the environment is
refused alone: named with its reason, the others registered."""

import json

import pytest

from tests.conftest import run_pipelines
from tests.support.prefect_api import client_for

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("empty_server")]
TUTORIAL = "EMD: escritorio - Users report"
DUMP = "EMD: escritorio - Dump exemplo"
FIRST = "EMD: aaa - Primeiro"

WAITS_FOR_THE_FIRST = '''"""Imported after `aaa`: waits for the server to hold the first flow."""
import os
import time
from pathlib import Path

import httpx
from prefect import flow

URL = os.environ["PREFECT_API_URL"]
FIRST = @FIRST@
query = {"flows": {"name": {"any_": [FIRST]}}}
deadline = time.monotonic() + 30
while not (seen := httpx.post(f"{URL}/deployments/filter", json=query).json()):
    if time.monotonic() > deadline:
        break
    time.sleep(0.1)
Path(os.environ["SEEN_FILE"]).write_text("seen" if seen else "not seen")


@flow(name="EMD: zzz - Segundo")
def segundo() -> None:
    """Registered after the first."""
'''.replace("@FIRST@", repr(FIRST))

FIRST_FLOW = f'''"""The first flows module of the repository, by name."""
from prefect import flow


@flow(name={FIRST!r})
def primeiro() -> None:
    """Registered first."""
'''


ASKS_FOR_THE_LOOP = '''"""Asks for the current event loop at import, as nest_asyncio does."""
import asyncio

from prefect import flow

asyncio.get_event_loop()


@flow(name="EMD: loop - Pede o loop")
def pede_o_loop() -> None:
    """Registered like any other."""
'''


def _project(repo, orgao: str, source: str) -> None:
    folder = repo / "pipelines" / orgao / "projeto"
    folder.mkdir(parents=True)
    (folder.parent / "__init__.py").touch()
    (folder / "__init__.py").touch()
    (folder / "flows.py").write_text(source)


def test_the_first_flows_are_deployed_while_the_next_are_imported(cli_env, repo_copy, tmp_path):
    _project(repo_copy, "aaa", FIRST_FLOW)
    _project(repo_copy, "zzz", WAITS_FOR_THE_FIRST)
    seen = tmp_path / "seen"

    result = run_pipelines(
        "register", "--env", "staging", "--json", env={**cli_env, "SEEN_FILE": str(seen)},
        cwd=repo_copy,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert seen.read_text() == "seen"
    actions = {o["flow"]: o["action"] for o in json.loads(result.stdout)}
    assert actions[FIRST] == actions["EMD: zzz - Segundo"] == "created"


def test_a_flow_whose_label_cannot_run_is_refused_alone(cli_env, repo_copy, prefect_api):
    schedules = repo_copy / "pipelines/rj_escritorio/dump_exemplo/schedules.py"
    schedules.write_text(
        schedules.read_text().replace("RJ_ESCRITORIO_DEV_AGENT_LABEL", "RJ_ESCRITORIO_AGENT_LABEL")
    )
    on_kubernetes = {**cli_env, "PIPELINES_WORK_POOL_TYPES": '{"rj-escritorio": "kubernetes"}'}
    on_kubernetes.pop("PIPELINES_IMAGE", None)
    on_kubernetes.pop("PIPELINES_WORKERS", None)

    result = run_pipelines(
        "register", "--env", "staging", "--json", env=on_kubernetes, cwd=repo_copy
    )

    assert result.returncode == 1
    outcomes = {o["flow"]: o for o in json.loads(result.stdout)}
    assert outcomes[DUMP]["action"] == "failed"
    assert "label 'rj-escritorio' in staging: no image" in outcomes[DUMP]["detail"]
    assert "error: label 'rj-escritorio' in staging: no image" in result.stderr
    assert outcomes[TUTORIAL]["action"] == "created"
    with client_for(prefect_api) as client:
        registered = {client.read_flow(d.flow_id).name for d in client.read_deployments()}
    assert TUTORIAL in registered and DUMP not in registered


def test_a_module_that_asks_for_the_event_loop_at_import_registers(cli_env, repo_copy):
    """The modules are imported off the main thread, which has an event loop before
    `asyncio.run`: the importing thread has one too, so such a module imports as it does for
    `pipelines flows`."""
    _project(repo_copy, "loop", ASKS_FOR_THE_LOOP)

    result = run_pipelines("register", "--env", "staging", "--json", env=cli_env, cwd=repo_copy)

    assert result.returncode == 0, result.stderr
    actions = {o["flow"]: o["action"] for o in json.loads(result.stdout)}
    assert actions["EMD: loop - Pede o loop"] == "created"
