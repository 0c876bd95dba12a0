"""`pipelines migrate` as a new user runs it: the guide's Prefect 1 samples brought into a copy of
the repository, then listed, planned, registered with their 04:00 São Paulo clock and run, and the
tutorial's `python run.py` run on the platform's local server (not a temporary one of Prefect's)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName

from tests.conftest import run_pipelines

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).parent.parent / "compat" / "samples"
REDIRECT = Path(__file__).parent.parent / "compat" / "sitecustomize_randomuser"
GEOLOCATOR = "EMD: escritorio - Geolocalizacao de chamados 1746"


@pytest.fixture
def sources(tmp_path) -> list[str]:
    """The guide's tutorial folder (top-level scripts) and its project with code_owners."""
    tutorial = tmp_path / "tutorial"
    shutil.copytree(SAMPLES / "guide_tutorial", tutorial)
    return [str(tutorial), str(SAMPLES / "guide_geolocator")]


def test_check_writes_nothing_and_a_missing_folder_is_a_usage_error(sources, repo_copy, cli_env):
    checked = run_pipelines("migrate", *sources, "--check", env=cli_env, cwd=repo_copy)
    assert checked.returncode == 0, checked.stderr
    assert f"would write {repo_copy}/examples/tutorial/run.py" in checked.stdout
    assert not (repo_copy / "examples").exists()
    assert not (repo_copy / "pipelines/rj_escritorio/geolocator").exists()

    missing = run_pipelines("migrate", "no-such-folder", env=cli_env, cwd=repo_copy)
    assert missing.returncode == 2
    assert "not a folder: no-such-folder" in missing.stderr


def test_check_exits_1_naming_what_is_unsupported(tmp_path, repo_copy, cli_env):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "flows.py").write_text(
        "from prefect import Flow\nfrom prefect.triggers import manual_only\n"
    )
    checked = run_pipelines("migrate", str(tmp_path / "old"), "--check", env=cli_env, cwd=repo_copy)
    assert checked.returncode == 1
    assert "flows.py:2: the manual_only trigger" in checked.stdout
    assert "1 unsupported construct(s)" in checked.stderr


def test_the_guides_samples_list_register_at_four_am_and_run(
    sources, repo_copy, cli_env, prefect_home, randomuser
):
    migrated = run_pipelines("migrate", *sources, env=cli_env, cwd=repo_copy)
    assert migrated.returncode == 0, migrated.stderr
    again = run_pipelines("migrate", *sources, env=cli_env, cwd=repo_copy)
    assert "0 file(s) wrote" in again.stdout

    listed = run_pipelines("flows", "--json", env=cli_env, cwd=repo_copy)
    assert listed.returncode == 0, listed.stderr
    (flow,) = [f for f in json.loads(listed.stdout) if f["name"] == GEOLOCATOR]
    assert flow["code_owners"] == ["paty"]
    assert flow["schedules"][0]["timezone"] == "America/Sao_Paulo"

    planned = run_pipelines(
        "register", "--env", "staging", "--dry-run", "--json", env=cli_env, cwd=repo_copy
    )
    assert planned.returncode == 0, planned.stderr
    assert GEOLOCATOR in {o["flow"] for o in json.loads(planned.stdout)}

    registered = run_pipelines("register", "--env", "staging", "--json", env=cli_env, cwd=repo_copy)
    assert registered.returncode == 0, registered.stderr
    (schedule,) = _deployment_schedules(f"{GEOLOCATOR}/{GEOLOCATOR} (staging)")
    assert schedule.timezone == "America/Sao_Paulo"
    assert schedule.anchor_date.isoformat() == "2021-01-01T04:00:00-03:00"

    ran = run_pipelines("run", "Geolocalizacao", env=cli_env, cwd=repo_copy)
    assert ran.returncode == 0, ran.stderr
    assert "geolocalizando dados_mestres.enderecos_geolocalizados" in ran.stdout + ran.stderr

    _run_tutorial_script(repo_copy, cli_env, prefect_home, randomuser.url)
    assert (repo_copy / "examples/tutorial/report.csv").is_file()


def _deployment_schedules(name: str) -> list:
    with get_client(sync_client=True) as client:
        return [s.schedule for s in client.read_deployment_by_name(name).schedules]


def _tutorial_runs() -> dict:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["Users report"]))
        )
    return {run.id: run for run in runs}


def _run_tutorial_script(repo: Path, cli_env: dict, home: Path, randomuser_url: str) -> None:
    """`python run.py` with no PREFECT_API_URL: the run lands on the server recorded in the
    platform's home (the session's), tagged as a local run, not on a temporary server that
    Prefect starts for the process."""
    env = {k: v for k, v in cli_env.items() if k != "PREFECT_API_URL"}
    env |= {
        "PIPELINES_HOME": str(home),
        "PYTHONPATH": f"{REDIRECT}{os.pathsep}{repo}",
        "COMPAT_RANDOMUSER_URL": randomuser_url,
    }
    before = _tutorial_runs()
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=repo / "examples" / "tutorial",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "temporary server" not in result.stdout + result.stderr
    (new,) = [run for run_id, run in _tutorial_runs().items() if run_id not in before]
    assert new.state is not None and new.state.is_completed()
    assert any(tag.startswith("pipelines-run:") for tag in new.tags)
