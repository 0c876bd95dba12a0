"""What the local server process is started with, and how the stack recognises its processes."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.framework.config.settings import Settings
from pipelines.framework.stack.server import UNUSED_SERVICES, pid_alive, server_environment


def test_the_server_keeps_the_services_the_platform_relies_on(tmp_path):
    env = server_environment(Settings(home=tmp_path))
    assert UNUSED_SERVICES.items() <= env.items()
    for kept in ("SCHEDULER", "LATE_RUNS", "TRIGGERS", "EVENT_PERSISTER", "TASK_RUN_RECORDER"):
        assert env.get(f"PREFECT_SERVER_SERVICES_{kept}_ENABLED") != "false", kept


@pytest.mark.parametrize(
    ("names", "ours"),
    [
        (["pipelines.framework.stack.worker", "worker", "start"], True),  # services.start_worker
        (["prefect", "server", "start"], True),
        (["some", "other", "program"], False),  # a pid reused by another program
    ],
)
def test_the_stack_knows_its_own_processes_by_their_command_line(names, ours):
    sleeper = "import time; time.sleep(30)"
    with subprocess.Popen([sys.executable, "-c", sleeper, *names]) as process:
        try:
            _wait_for_exec(process.pid, sleeper.encode())
            assert pid_alive(process.pid) is ours
        finally:
            process.kill()
    assert not pid_alive(process.pid)


def _wait_for_exec(pid: int, marker: bytes, timeout: float = 30) -> None:
    """Until the child runs its own program: right after the fork it still shows pytest's."""
    deadline = time.monotonic() + timeout
    while marker not in Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the child never started its program"
        time.sleep(0.01)
