"""Fixtures shared by every tier: a real Prefect server and a stand-in randomuser API."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from pipelines.framework.config.settings import REPO_ROOT, Settings
from pipelines.framework.stack.dev import RandomUserAPI
from pipelines.framework.stack.server import free_port, start_server, stop_process_group
from tests.support.prefect_api import client_for

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipelines-home")


@pytest.fixture(scope="session")
def prefect_api(prefect_home) -> Iterator[str]:
    """A real Prefect server on a free loopback port, for the whole test session."""
    settings = Settings(home=prefect_home, server_start_timeout=540)
    state = start_server(settings, "127.0.0.1", free_port())
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = state.url
    try:
        with temporary_settings(updates={PREFECT_API_URL: state.url}):
            yield state.url
    finally:
        APILogWorker.drain_all(timeout=10)  # the last runs' logs, sent while the server is up
        stop_process_group(state.pid)
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


@pytest.fixture
def randomuser() -> Iterator[RandomUserAPI]:
    with RandomUserAPI() as api:
        yield api


@pytest.fixture
def empty_server(prefect_api) -> str:
    """The session's server without deployments: it also holds those other tests registered
    (and a checkout's registration pauses what it does not have)."""
    with client_for(prefect_api) as client:
        while deployments := client.read_deployments():
            for deployment in deployments:
                client.delete_deployment(deployment.id)
    return prefect_api


@pytest.fixture
def cli_env(prefect_api, prefect_home) -> dict[str, str]:
    """Environment for running the `pipelines` command as a user would, against the test server."""
    return {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PIPELINES_HOME": str(prefect_home),
        "PIPELINES_HTTP_TIMEOUT": "1",
        "PIPELINES_SERVER_START_TIMEOUT": "540",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A copy of the repository's sources, to scaffold into without touching the real one."""
    target = tmp_path / "repo"
    ignore = shutil.ignore_patterns(
        ".venv", ".git", ".pipelines", "__pycache__", "target", "*.egg-info"
    )
    for name in ("pipelines", "tests", "pyproject.toml"):
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


def pipelines_command() -> list[str]:
    return [str(VENV_BIN / "pipelines")]


def run_pipelines(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """The `pipelines` command as a user runs it; in a repository copy, that copy's code."""
    if cwd is not None and (cwd / "pipelines" / "constants.py").is_file():
        env = {**env, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [*pipelines_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
