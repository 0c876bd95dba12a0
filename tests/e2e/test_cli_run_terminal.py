"""`pipelines run` in a terminal prints its run's log as an in-process run does, in colour, also
when the warm runner runs it (whose own output is a log file)."""

import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from pipelines.framework.cli.runner import stop_runners
from tests.conftest import pipelines_command, run_pipelines

pytestmark = pytest.mark.e2e
COLOURED_LEVEL = re.compile(r"\x1b\[[\d;]*mINFO\x1b\[0m")


def _in_a_terminal(command: list[str], env: dict[str, str], cwd: Path) -> str:
    """What `command` prints on a terminal (a pseudo-terminal here)."""
    leader, follower = pty.openpty()
    with subprocess.Popen(command, env=env, cwd=cwd, stdin=follower, stdout=follower,
                          stderr=follower) as process:  # fmt: skip
        os.close(follower)
        output = b""
        while chunk := _read(leader):
            output += chunk
        assert process.wait(timeout=300) == 0, output.decode(errors="replace")
    os.close(leader)
    return output.decode(errors="replace")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except OSError:  # the terminal's last process closed it
        return b""


def test_a_warm_run_logs_in_colour_in_a_terminal(cli_env, prefect_home, randomuser, tmp_path):
    env = {key: value for key, value in cli_env.items() if key != "NO_COLOR"}
    args = ("run", "Users report", "-p", "n_users=2", "-p", f"api_url={randomuser.url}")
    try:
        first = run_pipelines(*args, env=env, cwd=tmp_path)  # leaves a warm runner
        assert first.returncode == 0, first.stderr
        output = _in_a_terminal([*pipelines_command(), *args], env, tmp_path)
    finally:
        stop_runners(prefect_home)
    [line] = [line for line in output.splitlines() if "Dados baixados com sucesso!" in line]
    assert COLOURED_LEVEL.search(line), repr(line)
