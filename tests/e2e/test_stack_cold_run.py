"""The first `pipelines run` of a fresh state folder, with no server named: it starts the local
server in the background while it finds the flow, runs on it and leaves it (one server) for the
next commands."""

import csv
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.framework.cli.runner import stop_runners
from pipelines.framework.config import Settings
from pipelines.framework.stack import free_port, is_healthy, stop_server
from pipelines.framework.stack.server import read_state
from tests.conftest import pipelines_command, run_pipelines

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_home(tmp_path) -> Path:
    """A state folder no command used yet; its server and runners are stopped after the test."""
    home = tmp_path / "home"
    home.mkdir()
    yield home
    stop_runners(home)
    stop_server(Settings(home=home))


def cold_env(home: Path) -> dict[str, str]:
    """A user's environment: no PREFECT_API_URL, the platform's state in `home`."""
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update(
        PIPELINES_HOME=str(home),
        PIPELINES_PORT=str(free_port()),
        PIPELINES_SERVER_START_TIMEOUT="540",
        PREFECT_HOME=str(home / "client"),
        NO_COLOR="1",
    )
    return env


def servers_of(home: Path) -> list[int]:
    """The pids of the Prefect servers started for `home`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"server\0start" in command and f"PIPELINES_HOME={home}".encode() in environ:
            found.append(int(proc.name))
    return found


def wait_until(condition: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_cold_run_completes_on_the_server_it_started_and_the_next_run_reuses_it(
    fresh_home, randomuser, tmp_path
):
    env = cold_env(fresh_home)
    args = ("run", "Users report", "-p", "n_users=5", "-p", f"api_url={randomuser.url}")

    first = run_pipelines(*args, env=env, cwd=tmp_path)
    state = read_state(fresh_home)
    second = run_pipelines(*args, env=env, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert state is not None and is_healthy(state.url)
    assert read_state(fresh_home) == state
    assert servers_of(fresh_home) == [state.pid]
    with open(tmp_path / "report.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 6


def test_a_usage_error_of_a_cold_run_is_one_line_and_leaves_the_server_started(fresh_home):
    result = run_pipelines("run", "no such flow", env=cold_env(fresh_home))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no flow matches 'no such flow'; `pipelines flows` lists them"
    ]
    state = read_state(fresh_home)
    assert state is not None and is_healthy(state.url)
    assert servers_of(fresh_home) == [state.pid]


def test_a_cold_run_stopped_while_its_server_boots_leaves_that_server_to_the_next_run(
    fresh_home, randomuser, tmp_path
):
    env = cold_env(fresh_home)
    args = ("run", "Users report", "-p", "n_users=5", "-p", f"api_url={randomuser.url}")
    with subprocess.Popen([*pipelines_command(), *args], env=env, cwd=tmp_path) as stopped:
        wait_until(lambda: servers_of(fresh_home), 120)
        wait_until(lambda: read_state(fresh_home), 1)  # a boot takes seconds
        stopped.send_signal(signal.SIGTERM)
        assert stopped.wait(timeout=120) != 0
    booting = read_state(fresh_home)

    again = run_pipelines(*args, env=env, cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert booting is not None and read_state(fresh_home) == booting
    assert servers_of(fresh_home) == [booting.pid]
