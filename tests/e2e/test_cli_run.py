"""`pipelines run` and `pipelines flows` as a user runs them: a subprocess, a real server."""

import csv
import json
import re
import signal
import subprocess

import pytest

from pipelines.framework.stack import free_port
from pipelines.framework.stack.dev import HEADER, RandomUserAPI
from tests.conftest import pipelines_command, run_pipelines

pytestmark = pytest.mark.e2e
OLD_REPORT = b"gender,name.first\nfemale,Antiga\n"
LOG_RECORD = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| (INFO|WARNING|ERROR) ")


def test_run_with_parameters_writes_the_report(cli_env, randomuser, tmp_path):
    result = run_pipelines(
        "run",
        "Users report",
        "-p",
        "n_users=20",
        "-p",
        f"api_url={randomuser.url}",
        env=cli_env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "report.csv", newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == HEADER
    assert len(rows) == 20
    assert "Dados baixados com sucesso!" in result.stdout + result.stderr
    assert "Dados salvos em report.csv com sucesso!" in result.stdout + result.stderr


@pytest.mark.parametrize("n_users", ["0", "-1", "5001", "dez"])
def test_invalid_n_users_is_a_one_line_error_and_the_report_survives(cli_env, tmp_path, n_users):
    (tmp_path / "report.csv").write_bytes(OLD_REPORT)
    args = ("run", "Users report", "-p", f"n_users={n_users}")
    result = run_pipelines(*args, env=cli_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "n_users" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert (tmp_path / "report.csv").read_bytes() == OLD_REPORT


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("500", "500 Internal Server Error"), ("html", "HTML em vez de CSV"), ("hang", "Timeout")],
)
def test_a_broken_api_fails_the_run_and_the_report_survives(cli_env, tmp_path, mode, reason):
    (tmp_path / "report.csv").write_bytes(OLD_REPORT)
    with RandomUserAPI(mode=mode, hang_seconds=5) as api:
        result = run_pipelines(
            "run",
            "Users report",
            "-p",
            "n_users=3",
            "-p",
            f"api_url={api.url}",
            env=cli_env,
            cwd=tmp_path,
        )
    assert result.returncode == 1
    *log, last_line = result.stderr.strip().splitlines()
    assert "failed in task 'download_data'" in last_line
    assert reason in last_line
    # no traceback: each retry and the flow's failure is one log line (the server's log keeps the
    # tracebacks: the last line says where, and that -v prints them), then the one-line error
    assert "Traceback" not in result.stderr
    assert [line for line in log if not LOG_RECORD.match(line)] == []
    assert len(log) <= 16, result.stderr
    assert re.search(r"\(log: http://127\.0\.0\.1:\d+/runs/flow-run/[0-9a-f-]{36}; -v", last_line)
    assert (tmp_path / "report.csv").read_bytes() == OLD_REPORT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]
    if mode != "html":
        assert len(api.requests) == 4  # the first try and three retries


def test_offline_the_dev_stand_in_serves_the_run(cli_env, tmp_path):
    """The README's offline run: `pipelines dev randomuser` in one terminal, the run in another."""
    with subprocess.Popen(
        [*pipelines_command(), "dev", "randomuser", "--port", "0"],
        env=cli_env,
        stdout=subprocess.PIPE,
        text=True,
    ) as stand_in:
        try:
            first = stand_in.stdout.readline()
            assert first.startswith("randomuser stand-in (ok) on http://127.0.0.1:"), first
            url = first.split()[-1]
            result = run_pipelines(
                "run", "Users report", "-p", "n_users=10", "-p", f"api_url={url}",
                env=cli_env, cwd=tmp_path,
            )  # fmt: skip
        finally:
            stand_in.send_signal(signal.SIGINT)
        assert stand_in.wait(timeout=10) == 0
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "report.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 11  # the header and 10 users


def test_a_failed_run_with_v_prints_the_tracebacks(cli_env, tmp_path):
    with RandomUserAPI(mode="500") as api:
        args = ("run", "Users report", "-v", "-p", "n_users=3", "-p", f"api_url={api.url}")
        result = run_pipelines(*args, env=cli_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "failed in task 'download_data'" in result.stderr.strip().splitlines()[-1]


def test_an_unreachable_server_is_one_line(cli_env, tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    result = run_pipelines("run", "Users report", env={**cli_env, "PREFECT_API_URL": nobody})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach the Prefect server at {nobody} (ConnectError: [Errno 111] "
        "Connection refused); `pipelines up` starts the local one, PREFECT_API_URL names "
        "another (-v prints the traceback)"
    ]
    registering = run_pipelines(
        "register", "--dry-run", env={**cli_env, "PREFECT_API_URL": nobody}, cwd=tmp_path
    )
    assert registering.returncode == 1
    assert (
        registering.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot reach the Prefect server at {nobody}")
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no such flow"], "no flow matches"),
        (["run", "Users report", "-p", "colour=blue"], "no parameter 'colour'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli_env, args, message):
    result = run_pipelines(*args, env=cli_env)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_flows_json_lists_the_tutorial_with_its_parameters(cli_env):
    result = run_pipelines("flows", "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    flows = {f["name"]: f for f in json.loads(result.stdout)}
    tutorial = flows["EMD: escritorio - Users report"]
    assert tutorial["module"] == "pipelines.rj_escritorio.tutorial.flows"
    assert tutorial["code_owners"] == ["paty"]
    assert {p["name"]: p["default"] for p in tutorial["parameters"]} == {
        "n_users": 10,
        "api_url": "https://randomuser.me/api/",
        "output_path": "report.csv",
    }
    assert tutorial["labels"] == ["rj-escritorio-dev"]
    assert tutorial["schedules"][0]["timezone"] == "America/Sao_Paulo"
