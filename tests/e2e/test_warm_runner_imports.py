"""The warm runner imports the libraries earlier runs needed without making a caller wait: a
successor imports them and takes over once it has them, while the runner serves meanwhile."""

import json
import time
from pathlib import Path

import pytest

from pipelines.framework.cli.runner import stop_runners
from tests.conftest import run_pipelines

pytestmark = pytest.mark.e2e
SLOW_LIBRARY = """
import pathlib, time
here = pathlib.Path(__file__).parent
(here / "started").touch()
deadline = time.monotonic() + 300
while not (here / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
"""
"""A library whose import lasts until the test releases it (dbt's take seconds)."""


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def _modified(path: Path) -> float:
    return path.stat().st_mtime


def test_a_caller_is_served_while_the_runner_imports_what_runs_needed(
    cli_env, prefect_home, randomuser, tmp_path
):
    library = tmp_path / "library"
    library.mkdir()
    (library / "slow_library.py").write_text(SLOW_LIBRARY, encoding="utf-8")
    env = {**cli_env, "PYTHONPATH": str(library)}
    args = ("run", "Users report", "-p", "n_users=2", "-p", f"api_url={randomuser.url}")
    try:
        first = run_pipelines(*args, env=env, cwd=tmp_path)  # starts a runner of this env
        assert first.returncode == 0, first.stderr
        learned = max((prefect_home / "runner").glob("*.modules.json"), key=_modified)
        data = json.loads(learned.read_text(encoding="utf-8"))
        data["modules"].append("slow_library")  # as if an earlier run had imported it
        learned.write_text(json.dumps(data), encoding="utf-8")
        _wait_for(library / "started", seconds=60)  # checked every 5 s while idle

        during = run_pipelines(*args, env=env, cwd=tmp_path, timeout=120)
        assert during.returncode == 0, during.stderr
        assert "'EMD: escritorio - Users report' completed" in during.stdout + during.stderr

        (library / "release").touch()
        after = run_pipelines(*args, env=env, cwd=tmp_path)  # the successor's, or the runner's
        assert after.returncode == 0, after.stderr
    finally:
        (library / "release").touch()
        stop_runners(prefect_home)
