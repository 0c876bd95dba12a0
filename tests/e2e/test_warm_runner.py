"""`pipelines run` through its warm runner: the run happens in a child of a process that imported
Prefect once, with the caller's terminal, exit code, Ctrl-C and the repository as it is now."""

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState
from prefect.client.schemas.filters import FlowRunFilterStateType as StateTypes
from prefect.client.schemas.objects import FlowRun, StateType

from pipelines.framework.cli.runner import stop_runners
from pipelines.framework.stack.dev import RandomUserAPI
from tests.conftest import pipelines_command, run_pipelines

pytestmark = pytest.mark.e2e
IMPORTED = re.compile(
    r"^import time:.*\|\s+(prefect|pandas|typer|pydantic|pipelines\.rj_escritorio)(\.|$)"
)
"""An import of Prefect, pandas, the command line's parser and pydantic, or the flow in
`python -X importtime`'s report: a warm run's caller hands its command over as typed."""


@pytest.fixture
def runner_env(cli_env, prefect_home):
    """The CLI's environment, with no runner left by an earlier test of the session (the tests
    without this fixture leave theirs up); the runners it starts are stopped after the test."""
    stop_runners(prefect_home)
    yield cli_env
    stop_runners(prefect_home)


def test_a_warm_run_imports_neither_prefect_nor_the_flow_in_the_callers_process(
    runner_env, randomuser, tmp_path
):
    args = ("run", "Users report", "-p", "n_users=5", "-p", f"api_url={randomuser.url}")
    first = run_pipelines(*args, env=runner_env, cwd=tmp_path)  # starts the runner
    assert first.returncode == 0, first.stderr
    script = pipelines_command()[0]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", script, *args],
        env=runner_env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Dados salvos em report.csv com sucesso!" in output  # the run's log, in this terminal
    assert "'EMD: escritorio - Users report' completed" in output
    with open(tmp_path / "report.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 6  # written in this folder: the caller's
    assert [line for line in result.stderr.splitlines() if IMPORTED.match(line)] == []
    assert any(line.startswith("import time:") for line in result.stderr.splitlines())


def test_usage_errors_keep_their_exit_code_and_line(runner_env, tmp_path):
    result = run_pipelines("run", "Users report", "-p", "n_users=0", env=runner_env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: parameter 'n_users': input should be greater than or equal to 1 (got '0')"
    ]


def test_the_prefect_settings_of_the_callers_folder_are_the_runs(runner_env, randomuser, tmp_path):
    """The runner keeps the Prefect settings it read for the folder of its first caller; a run
    from a folder whose `prefect.toml` says otherwise has that folder's."""
    args = ("run", "Users report", "-p", "n_users=2", "-p", f"api_url={randomuser.url}")
    outputs = []
    for settings in (None, '[logging]\nlevel = "WARNING"\n', None):
        if settings:
            (tmp_path / "prefect.toml").write_text(settings, encoding="utf-8")
        else:
            (tmp_path / "prefect.toml").unlink(missing_ok=True)
        result = run_pipelines(*args, env=runner_env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)

    assert ["Beginning flow run" in output for output in outputs] == [True, False, True]


def _running(known: set) -> list[FlowRun]:
    """Running flow runs, but the `known` ids (other tests' runs may be running too)."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=StateTypes(any_=[StateType.RUNNING]))
            )
        )
    return [run for run in runs if run.id not in known]


@pytest.mark.xfail(
    strict=False,
    reason="known bug: in the whole suite (3 fresh-clone runs of 3 on 2026-12-02) the interrupted "
    "run went on to its 60 s HTTP timeout and exited 1; alone or with its file it passes",
)
def test_ctrl_c_reaches_the_run_as_it_would_in_process(runner_env, randomuser, tmp_path):
    args = ["run", "Users report", "-p", "n_users=2", "-p", f"api_url={randomuser.url}"]
    assert run_pipelines(*args, env=runner_env, cwd=tmp_path).returncode == 0  # a warm runner
    before = {run.id for run in _running(set())}
    with RandomUserAPI(mode="hang", hang_seconds=60) as hanging:
        hang_args = ["run", "Users report", "-p", f"api_url={hanging.url}"]
        with subprocess.Popen(
            [*pipelines_command(), *hang_args],
            env={**runner_env, "PIPELINES_HTTP_TIMEOUT": "60"},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as caller:
            deadline = time.monotonic() + 120
            while not hanging.requests:
                assert time.monotonic() < deadline, "the run never asked the API"
                time.sleep(0.1)
            [interrupted] = _running(before)
            caller.send_signal(signal.SIGINT)  # what Ctrl-C sends to the terminal's process
            output, _ = caller.communicate(timeout=60)
    assert caller.returncode != 0, output
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(interrupted.id).state
    assert state.type == StateType.CRASHED, (state, output)


def test_an_edited_task_runs_as_edited_by_the_same_runner(
    runner_env, prefect_home, randomuser, repo_copy
):
    tasks = repo_copy / "pipelines" / "rj_escritorio" / "tutorial" / "tasks.py"
    args = ("run", "Users report", "-p", "n_users=2", "-p", f"api_url={randomuser.url}")
    first = run_pipelines(*args, env=runner_env, cwd=repo_copy)
    assert first.returncode == 0, first.stderr
    runners = sorted((prefect_home / "runner").glob("*.sock"))
    tasks.write_text(
        tasks.read_text(encoding="utf-8").replace("Dados baixados com sucesso!", "Baixados, v2"),
        encoding="utf-8",
    )
    os.utime(tasks)
    second = run_pipelines(*args, env=runner_env, cwd=repo_copy)
    assert second.returncode == 0, second.stderr
    assert sorted((prefect_home / "runner").glob("*.sock")) == runners  # no new runner
    assert "Baixados, v2" in second.stdout + second.stderr
    assert "Dados baixados com sucesso!" not in second.stdout + second.stderr


def _runner_pids(socket_path: str) -> set[int]:
    """The processes serving (or having served) the runner socket `socket_path`."""
    pids = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if socket_path.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                pids.add(int(entry))
    return pids


def test_an_edited_platform_module_runs_as_edited_by_a_runner_that_imported_it(
    runner_env, prefect_home, randomuser, repo_copy
):
    helper = repo_copy / "pipelines" / "framework" / "runtime" / "logging.py"
    args = ("run", "Users report", "-p", "n_users=2", "-p", f"api_url={randomuser.url}")
    first = run_pipelines(*args, env=runner_env, cwd=repo_copy)  # teaches the runner the platform
    assert first.returncode == 0, first.stderr
    (runner,) = (prefect_home / "runner").glob("*.sock")
    learned = json.loads(runner.with_suffix(".modules.json").read_text(encoding="utf-8"))
    assert "pipelines.framework.runtime.logging" in learned["modules"]
    first_runner = min(_runner_pids(str(runner)))  # its successor, if forked yet, comes later
    deadline = time.monotonic() + 90
    while first_runner in _runner_pids(str(runner)):  # a successor imports it, then takes over
        assert time.monotonic() < deadline, "no successor took the runner's place"
        time.sleep(0.2)
    kept = run_pipelines(*args, env=runner_env, cwd=repo_copy)
    assert kept.returncode == 0, kept.stderr
    assert "Dados baixados com sucesso!" in kept.stdout + kept.stderr

    helper.write_text(
        helper.read_text(encoding="utf-8").replace(
            "logger.log(logging.getLevelName(level.upper()), message)",
            'logger.log(logging.getLevelName(level.upper()), "v2 " + message)',
        ),
        encoding="utf-8",
    )
    edited = run_pipelines(*args, env=runner_env, cwd=repo_copy)
    assert edited.returncode == 0, edited.stderr
    assert "v2 Dados baixados com sucesso!" in edited.stdout + edited.stderr
    assert sorted((prefect_home / "runner").glob("*.sock")) == [runner]  # the same runner


def test_pipelines_down_stops_the_warm_runners(cli_env, randomuser, tmp_path):
    env = {**cli_env, "PIPELINES_HOME": str(tmp_path / "home")}  # no server of its own to stop
    args = ("run", "Users report", "-p", "n_users=2", "-p", f"api_url={randomuser.url}")
    assert run_pipelines(*args, env=env, cwd=tmp_path).returncode == 0
    sockets = tmp_path / "home" / "runner"
    assert list(sockets.glob("*.sock"))  # the run left its runner waiting for the next one
    try:
        assert run_pipelines("down", env=env, cwd=tmp_path).returncode == 0
        assert not list(sockets.glob("*.sock"))
    finally:
        stop_runners(tmp_path / "home")


@pytest.mark.parametrize("args", [("run",), ("run", "-p", "n_users=2"), ("run", "-v", "--")])
def test_a_run_that_names_no_flow_is_a_usage_error_that_starts_no_runner(args, cli_env, tmp_path):
    home = tmp_path / "home"
    result = run_pipelines(*args, env={**cli_env, "PIPELINES_HOME": str(home)}, cwd=tmp_path)
    assert result.returncode == 2
    assert "Missing argument 'FLOW'" in result.stderr
    assert not list(home.rglob("*.sock"))  # no warm runner was started for it
